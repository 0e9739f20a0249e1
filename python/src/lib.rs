//! Python bindings of trajrnn (the `trajrnn._trajrnn` extension module; the `trajrnn` package
//! re-exports it). Thin over the library: every check and message is the library's; this crate
//! converts arrays and errors and keeps the interpreter responsive during long calls.

mod arrays;
mod checkpoint;
mod dataset;
mod errors;
mod predictor;
mod runs;

use pyo3::prelude::*;

#[pymodule]
fn _trajrnn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // The optional parts this build has (`full` has both).
    let features: Vec<&str> = [("import", cfg!(feature = "import")), ("rerun", cfg!(feature = "rerun"))]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
    m.add("FEATURES", features)?;
    m.add("TrajrnnError", m.py().get_type::<errors::TrajrnnError>())?;
    m.add_class::<dataset::PyDataset>()?;
    m.add_class::<dataset::PyEpisode>()?;
    m.add_class::<checkpoint::PyCheckpoint>()?;
    m.add_class::<predictor::PyPredictor>()?;
    m.add_function(wrap_pyfunction!(dataset::import_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(runs::train, m)?)?;
    m.add_function(wrap_pyfunction!(runs::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(runs::record_rollouts, m)?)?;
    Ok(())
}
