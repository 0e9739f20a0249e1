//! The library's errors as Python exceptions, with the library's message (file, line, field).

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyFileNotFoundError, PyOSError};
use pyo3::prelude::*;

create_exception!(
    trajrnn,
    TrajrnnError,
    PyException,
    "An error of trajrnn: invalid data, configuration or checkpoint, with the file, line and field it concerns."
);

/// The Python exception for a library error: `FileNotFoundError`/`OSError` for files that cannot
/// be read or written, `TrajrnnError` for everything else.
pub(crate) fn to_py(e: trajrnn::Error) -> PyErr {
    let message = e.to_string();
    match &e {
        trajrnn::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(message)
        }
        trajrnn::Error::Io { .. } => PyOSError::new_err(message),
        _ => TrajrnnError::new_err(message),
    }
}

/// `Result` of the library, turned into a Python one.
pub(crate) trait IntoPy<T> {
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for trajrnn::Result<T> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// A JSON text (of a serialised library value) as Python objects (dicts, lists, floats; JSON's
/// null, which the library writes for an empty measurement, becomes `None`).
pub(crate) fn json_to_py<'py>(py: Python<'py>, value: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| TrajrnnError::new_err(e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}

/// The error of a function whose part of the library this build left out.
#[cfg(any(not(feature = "rerun"), not(feature = "import")))]
pub(crate) fn missing_feature(function: &str, feature: &str) -> PyErr {
    TrajrnnError::new_err(format!(
        "{function} is not in this build of trajrnn (cargo feature `{feature}`): reinstall with \
         MATURIN_PEP517_ARGS=\"--features full\" pip install ./python"
    ))
}
