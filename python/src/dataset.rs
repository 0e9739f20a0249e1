//! Datasets: loaded from a trajrnn dataset folder or imported from another format; episodes'
//! arrays are read-only NumPy views of the dataset's memory (no copy).

use std::path::PathBuf;
use std::sync::Arc;

use numpy::ndarray::{ArrayView, ArrayView1, ArrayView2, Dimension};
use numpy::{Element, PyArray, PyArray1, PyArray2};
use pyo3::prelude::*;
use trajrnn::data::Dataset;

use crate::errors::{IntoPy, TrajrnnError};

/// A dataset of joint-angle trajectories (a trajrnn dataset folder, loaded and validated).
#[pyclass(name = "Dataset", module = "trajrnn", frozen)]
pub struct PyDataset {
    pub(crate) inner: Arc<Dataset>,
    /// What the importer did, for a dataset made by `import_dataset`.
    #[pyo3(get)]
    import_report: Option<String>,
}

impl PyDataset {
    pub(crate) fn new(inner: Dataset) -> Self {
        Self { inner: Arc::new(inner), import_report: None }
    }
}

#[pymethods]
impl PyDataset {
    /// Loads and validates a dataset folder (`dataset.json` and its episodes).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let dataset = py.detach(|| Dataset::load(&path)).py_err()?;
        Ok(Self::new(dataset))
    }

    /// The dataset's name.
    #[getter]
    fn name(&self) -> &str {
        &self.inner.meta.name
    }

    /// The robot's identifier (e.g. `panda`).
    #[getter]
    fn robot(&self) -> &str {
        &self.inner.meta.robot
    }

    /// Nominal sampling rate, Hz.
    #[getter]
    fn rate_hz(&self) -> f64 {
        self.inner.meta.rate_hz
    }

    /// State channel names, in the order of an episode's `states` columns.
    #[getter]
    fn channels(&self) -> Vec<String> {
        self.inner.meta.channels()
    }

    /// Command channel names (what was sent to the robot), in the order of `commands` columns.
    #[getter]
    fn command_names(&self) -> Vec<String> {
        self.inner.meta.command_names()
    }

    /// What the checks found suspicious but not wrong.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.inner.warnings.clone()
    }

    /// The episodes, in file order.
    #[getter]
    fn episodes(slf: &Bound<'_, Self>) -> Vec<PyEpisode> {
        let dataset = slf.clone().unbind();
        (0..slf.get().inner.episodes.len())
            .map(|index| PyEpisode { dataset: dataset.clone_ref(slf.py()), index })
            .collect()
    }

    fn __len__(&self) -> usize {
        self.inner.episodes.len()
    }

    fn __repr__(&self) -> String {
        let m = &self.inner.meta;
        format!(
            "Dataset(name={:?}, robot={:?}, episodes={}, frames={}, channels={}, rate_hz={})",
            m.name,
            m.robot,
            self.inner.episodes.len(),
            self.inner.total_frames(),
            m.dim(),
            m.rate_hz
        )
    }
}

/// One episode of a [`PyDataset`]; its arrays are read-only views of the dataset's memory.
#[pyclass(name = "Episode", module = "trajrnn", frozen)]
pub struct PyEpisode {
    dataset: Py<PyDataset>,
    index: usize,
}

impl PyEpisode {
    fn episode<'a>(&self, dataset: &'a PyDataset) -> &'a trajrnn::data::Episode {
        &dataset.inner.episodes[self.index]
    }
}

/// A read-only NumPy array over `view`, whose memory `owner` keeps alive.
fn read_only<'py, T: Element, D: Dimension>(
    owner: &Bound<'py, PyDataset>,
    view: ArrayView<'_, T, D>,
) -> PyResult<Bound<'py, PyArray<T, D>>> {
    // SAFETY: every view here is of the dataset's `Arc`, which `owner` (a frozen object the array
    // keeps as its base) holds and never changes; the array is made read-only below.
    let array = unsafe { PyArray::borrow_from_array(&view, owner.clone().into_any()) };
    array.call_method1("setflags", (false,))?;
    Ok(array)
}

/// A read-only NumPy view of row-major `values` with `cols` columns.
fn view2<'py>(owner: &Bound<'py, PyDataset>, values: &[f32], cols: usize) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let view = ArrayView2::from_shape((values.len() / cols.max(1), cols), values)
        .map_err(|e| TrajrnnError::new_err(e.to_string()))?;
    read_only(owner, view)
}

#[pymethods]
impl PyEpisode {
    /// The episode's name.
    #[getter]
    fn name(&self) -> String {
        self.episode(self.dataset.get()).name.clone()
    }

    /// Timestamps, seconds, shape `(frames,)` (float64).
    #[getter]
    fn time<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let owner = self.dataset.bind(py);
        read_only(owner, ArrayView1::from(self.episode(owner.get()).time.as_slice()))
    }

    /// States, shape `(frames, channels)` (float32; radians for joints).
    #[getter]
    fn states<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let owner = self.dataset.bind(py);
        let e = self.episode(owner.get());
        view2(owner, &e.states, e.dim)
    }

    /// Commands sent at each frame, shape `(frames, command_channels)`, or `None`.
    #[getter]
    fn commands<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyArray2<f32>>>> {
        let owner = self.dataset.bind(py);
        let e = self.episode(owner.get());
        e.commands.as_ref().map(|c| view2(owner, c, e.command_dim())).transpose()
    }

    fn __len__(&self) -> usize {
        self.episode(self.dataset.get()).len()
    }

    fn __repr__(&self) -> String {
        let e = self.episode(self.dataset.get());
        format!("Episode(name={:?}, frames={}, channels={})", e.name, e.len(), e.dim)
    }
}

/// Imports data of another format (`lerobot`, `robomimic`, `robosuite`, `csv`) into a new
/// dataset folder `out` and loads it. `mapping` holds the keys of an import mapping file (see
/// `trajrnn import --help`), e.g. `{"joints": [...], "angle_unit": "deg"}`.
#[cfg(feature = "import")]
#[pyfunction]
#[pyo3(signature = (format, source, out, mapping = None))]
pub(crate) fn import_dataset(
    py: Python<'_>,
    format: &str,
    source: PathBuf,
    out: PathBuf,
    mapping: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyDataset> {
    use trajrnn::data::import::{Format, Mapping};
    let format: Format = serde_json::from_value(serde_json::Value::String(format.to_string())).map_err(|_| {
        TrajrnnError::new_err(format!("unknown format `{format}`: lerobot, robomimic, robosuite or csv"))
    })?;
    let mut mapping: Mapping = match mapping {
        Some(m) => crate::runs::from_python(m, "the import mapping", crate::runs::NoneIs::Unset)?,
        None => Mapping::default(),
    };
    if mapping.name.is_none() {
        mapping.name = out.file_name().map(|n| n.to_string_lossy().into_owned());
    }
    py.detach(|| -> trajrnn::Result<PyDataset> {
        trajrnn::data::folder::check_new_folder(&out)?;
        let imported = trajrnn::data::import::import(format, &source, &mapping)?;
        imported.save(&out)?;
        let report = imported.report.to_string();
        Ok(PyDataset { inner: Arc::new(Dataset::load(&out)?), import_report: Some(report) })
    })
    .py_err()
}

/// Without the importers in the build, says how to get them.
#[cfg(not(feature = "import"))]
#[pyfunction]
#[pyo3(signature = (format, source, out, mapping = None))]
pub(crate) fn import_dataset(
    format: &str,
    source: PathBuf,
    out: PathBuf,
    mapping: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyDataset> {
    let _ = (format, source, out, mapping);
    Err(crate::errors::missing_feature("import_dataset", "import"))
}
