//! One error type for the crate. Data errors carry the place (file, line, column) so a user can
//! go straight to the offending value.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where in an input file something went wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub path: PathBuf,
    /// 1-based line in the file, when the problem is on one line.
    pub line: Option<u64>,
    /// The column (field) name, when the problem is in one field.
    pub column: Option<String>,
}

impl Location {
    pub fn file(path: impl AsRef<Path>) -> Self {
        Self { path: path.as_ref().to_path_buf(), line: None, column: None }
    }
    pub fn line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }
    pub fn column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column `{column}`")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// Invalid content in a dataset, robot description or checkpoint file.
    #[error("{at}: {message}")]
    Invalid { at: Location, message: String },
    /// A configuration value that cannot work (e.g. a window longer than an episode).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The requested backend is not compiled in or not available on this machine.
    #[error("backend: {0}")]
    Backend(String),
    #[error("rerun: {0}")]
    Viz(String),
}

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }
    pub fn invalid(at: Location, message: impl Into<String>) -> Self {
        Error::Invalid { at, message: message.into() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
