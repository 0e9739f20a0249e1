//! A thin layer over the pure-Rust `hdf5-pure` reader: every failure becomes our error with the
//! file and the HDF5 object (group or dataset path) in it, and reads are bounded so that a
//! damaged shape cannot ask for more memory than the file could hold.

use std::path::{Path, PathBuf};

use hdf5_pure::{AttrValue, DType};

use super::{MAX_INFLATION, MIN_READ_LIMIT};
use crate::error::{Error, Location, Result};

/// An open HDF5 file (held in memory) and its path for messages.
pub(crate) struct H5 {
    file: hdf5_pure::File,
    path: PathBuf,
    read_limit: u64,
}

/// A rank-1 or rank-2 numeric dataset as row-major f64.
pub(crate) struct Matrix {
    pub(crate) values: Vec<f64>,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
}

impl Matrix {
    pub(crate) fn row(&self, r: usize) -> &[f64] {
        &self.values[r * self.cols..(r + 1) * self.cols]
    }
}

impl H5 {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(path, bytes)
    }

    /// Parses `bytes`; `path` names the file in messages.
    pub(crate) fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        let read_limit = (bytes.len() as u64).saturating_mul(MAX_INFLATION).max(MIN_READ_LIMIT);
        let file = guard(|| hdf5_pure::File::from_bytes(bytes))
            .map_err(|e| Error::invalid(Location::file(path), format!("not a readable HDF5 file: {e}")))?;
        Ok(Self { file, path: path.to_path_buf(), read_limit })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The location of object `object` (a path such as `data/demo_1/states`).
    pub(crate) fn at(&self, object: &str) -> Location {
        Location::file(&self.path).group(format!("/{}", object.trim_start_matches('/')))
    }

    fn fail(&self, object: &str, e: impl std::fmt::Display) -> Error {
        Error::invalid(self.at(object), e.to_string())
    }

    /// Names of the subgroups of `group`.
    pub(crate) fn groups(&self, group: &str) -> Result<Vec<String>> {
        guard(|| self.file.group(group).and_then(|g| g.groups())).map_err(|e| self.fail(group, e))
    }

    /// Whether `object` exists (as anything).
    pub(crate) fn exists(&self, object: &str) -> bool {
        let (parent, name) = object.rsplit_once('/').unwrap_or(("/", object));
        let parent = if parent.is_empty() { "/" } else { parent };
        guard(|| {
            let g = self.file.group(parent)?;
            Ok::<_, hdf5_pure::Error>(g.groups()?.iter().any(|n| n == name) || g.datasets()?.iter().any(|n| n == name))
        })
        .unwrap_or(false)
    }

    /// A string attribute of `object`, if it has one that is a string.
    pub(crate) fn attr_string(&self, object: &str, name: &str) -> Option<String> {
        let attrs = guard(|| self.file.group(object).and_then(|g| g.attrs())).ok()?;
        match attrs.get(name)? {
            AttrValue::I64(_) | AttrValue::F64(_) => None,
            v => v.as_str().map(str::to_owned),
        }
    }

    /// A numeric dataset as a `[rows, cols]` matrix (a rank-1 dataset is one column).
    pub(crate) fn matrix(&self, object: &str) -> Result<Matrix> {
        let ds = guard(|| self.file.dataset(object)).map_err(|e| self.fail(object, e))?;
        let dtype = guard(|| ds.dtype()).map_err(|e| self.fail(object, e))?;
        let element = match dtype {
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 => 2,
            other => return Err(self.fail(object, format!("holds {other} values, not numbers"))),
        };
        let shape = guard(|| ds.shape()).map_err(|e| self.fail(object, e))?;
        let (rows, cols) = match shape.as_slice() {
            [n] => (*n, 1),
            [n, m] => (*n, *m),
            other => {
                return Err(self.fail(object, format!("has shape {other:?}; expected [frames] or [frames, width]")));
            }
        };
        let bytes = rows.checked_mul(cols).and_then(|n| n.checked_mul(element));
        if bytes.is_none_or(|b| b > self.read_limit) {
            return Err(self.fail(object, format!("shape [{rows}, {cols}] is larger than the file could hold")));
        }
        let values = if rows * cols == 0 {
            Vec::new()
        } else {
            guard(|| ds.read_f64()).map_err(|e| self.fail(object, format!("cannot read the values: {e}")))?
        };
        if values.len() as u64 != rows * cols {
            return Err(self.fail(object, format!("holds {} values for shape [{rows}, {cols}]", values.len())));
        }
        Ok(Matrix { values, rows: rows as usize, cols: cols as usize })
    }

    /// A rank-1 string dataset (fixed-length or variable-length).
    pub(crate) fn strings(&self, object: &str) -> Result<Vec<String>> {
        let ds = guard(|| self.file.dataset(object)).map_err(|e| self.fail(object, e))?;
        let dtype = guard(|| ds.dtype()).map_err(|e| self.fail(object, e))?;
        if !matches!(dtype, DType::String | DType::VariableLengthString) {
            return Err(self.fail(object, format!("holds {dtype} values, not strings")));
        }
        let shape = guard(|| ds.shape()).map_err(|e| self.fail(object, e))?;
        let n: u64 = shape.iter().product();
        if shape.len() != 1 || n.saturating_mul(64) > self.read_limit {
            return Err(self.fail(object, format!("has shape {shape:?}; expected a list of names")));
        }
        guard(|| ds.read_string()).map_err(|e| self.fail(object, format!("cannot read the strings: {e}")))
    }
}

fn guard<T, E: std::fmt::Display>(f: impl FnOnce() -> std::result::Result<T, E>) -> std::result::Result<T, String> {
    super::guard::guard(super::guard::Library::Hdf5, f)
}
