//! NumPy arrays in and out: float32 arrays are read in place, float64 ones (and sequences) are
//! converted into a scratch buffer; shapes are checked with a `ValueError` that names the
//! expected shape, and other dtypes raise a `TypeError`.

use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// One axis of an expected shape: a fixed length, or any length (written `n`).
#[derive(Clone, Copy)]
pub(crate) enum Axis {
    Fixed(usize),
    Any,
}

/// How a shape is written in messages: `(9,)`, `(n, 9)`.
fn written(axes: impl ExactSizeIterator<Item = String>) -> String {
    let one = axes.len() == 1;
    let inner: Vec<String> = axes.collect();
    if one { format!("({},)", inner[0]) } else { format!("({})", inner.join(", ")) }
}

fn check_shape(what: &str, expected: &[Axis], shape: &[usize], names: &str) -> PyResult<()> {
    let fits = shape.len() == expected.len()
        && expected.iter().zip(shape).all(|(a, &n)| match a {
            Axis::Fixed(want) => n == *want,
            Axis::Any => true,
        });
    if fits {
        return Ok(());
    }
    let want = written(expected.iter().map(|a| match a {
        Axis::Fixed(n) => n.to_string(),
        Axis::Any => "n".into(),
    }));
    let got = written(shape.iter().map(usize::to_string));
    Err(PyValueError::new_err(format!("{what} must have shape {want}{names}, got shape {got}")))
}

/// Calls `use_values` with `value`'s elements as f32 (row-major) once its shape matches
/// `expected`. A C-contiguous float32 array is read in place; anything else is converted into
/// `scratch` (which keeps its capacity: a control loop passing float64 allocates nothing after
/// the first call). `names` follows the expected shape in messages (e.g. the channel names).
pub(crate) fn with_f32<R>(
    value: &Bound<'_, PyAny>,
    what: &str,
    expected: &[Axis],
    names: &str,
    scratch: &mut Vec<f32>,
    use_values: impl FnOnce(&[f32], &[usize]) -> PyResult<R>,
) -> PyResult<R> {
    if let Ok(array) = value.cast::<PyArrayDyn<f32>>() {
        let array = array.readonly();
        check_shape(what, expected, array.shape(), names)?;
        if let Ok(values) = array.as_slice() {
            return use_values(values, array.shape());
        }
        scratch.clear();
        scratch.extend(array.as_array().iter());
        return use_values(scratch, array.shape());
    }
    if let Ok(array) = value.cast::<PyArrayDyn<f64>>() {
        let array = array.readonly();
        check_shape(what, expected, array.shape(), names)?;
        scratch.clear();
        scratch.extend(array.as_array().iter().map(|&v| v as f32));
        return use_values(scratch, array.shape());
    }
    if let Ok(array) = value.cast::<PyUntypedArray>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a float32 or float64 array, got dtype {}",
            array.dtype()
        )));
    }
    // A list or tuple (or anything NumPy reads as numbers): through a float64 array.
    let numpy = value.py().import("numpy")?;
    let array = numpy.call_method1("asarray", (value, "float64")).map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a float32 or float64 array (or a sequence of numbers), got {}",
            value.get_type().name().map_or_else(|_| "?".into(), |n| n.to_string())
        ))
    })?;
    with_f32(&array, what, expected, names, scratch, use_values)
}

/// ` (j0, j1, g)`: channel names to follow a shape in messages.
pub(crate) fn names_note(names: &[String]) -> String {
    if names.is_empty() { String::new() } else { format!(" ({})", names.join(", ")) }
}
