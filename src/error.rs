//! One error type for the crate. Data errors carry the place (file, line or frame, column) so a
//! user can go straight to the offending value; option errors name the option.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where in an input something went wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    /// The file (or source, e.g. `synthetic:episode_000`) the problem is in.
    pub path: PathBuf,
    /// The group or object inside a container file (an HDF5 group such as `/data/demo_3`).
    pub group: Option<String>,
    /// 0-based row of a table (a parquet file, an HDF5 dataset), when the input has no lines.
    pub row: Option<u64>,
    /// 1-based line in the file, when the problem is on one line.
    pub line: Option<u64>,
    /// 0-based frame of an episode, when the data did not come from a line of text.
    pub frame: Option<usize>,
    /// The column (field, group or key) name, when the problem is in one field.
    pub column: Option<String>,
}

impl Location {
    /// The whole of file `path`; narrow it down with the methods below.
    pub fn file(path: impl AsRef<Path>) -> Self {
        Self { path: path.as_ref().to_path_buf(), group: None, row: None, line: None, frame: None, column: None }
    }
    /// The location inside container group `group` (e.g. `/data/demo_3`).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }
    /// The location at 0-based table row `row`.
    pub fn row(mut self, row: u64) -> Self {
        self.row = Some(row);
        self
    }
    /// The location at 1-based line `line`.
    pub fn line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }
    /// The location at 0-based episode frame `frame`.
    pub fn frame(mut self, frame: usize) -> Self {
        self.frame = Some(frame);
        self
    }
    /// The column's name, cut to a short prefix (it may come from a damaged header).
    pub fn column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(cut(&column.into()));
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(group) = &self.group {
            write!(f, ", group {group}")?;
        }
        if let Some(row) = self.row {
            write!(f, ", row {row}")?;
        }
        if let Some(frame) = self.frame {
            write!(f, ", frame {frame}")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column `{column}`")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong in the crate; the message says where and, where it can, what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder that could not be read, written or created.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Invalid content in a dataset, robot description, configuration or checkpoint file.
    /// (The location is boxed: it is the largest part and keeps `Result<T, Error>` small.)
    #[error("{at}: {message}")]
    Invalid {
        /// Where in the input the problem is.
        at: Box<Location>,
        /// What is wrong there.
        message: String,
    },
    /// An option (command-line flag or config key) whose value cannot work.
    #[error("{option}: {message}")]
    Option {
        /// The option's name as the user writes it (e.g. `--context`, `data.split.gap`).
        option: String,
        /// Why its value cannot work.
        message: String,
    },
    /// A configuration that cannot work with this data (e.g. a window longer than every episode).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A checkpoint and a dataset that do not belong together.
    #[error("{0}")]
    Mismatch(String),
    /// The requested backend is not compiled in or not available on this machine.
    #[error("backend: {0}")]
    Backend(String),
    /// Training failed in a way no setting of this run can fix by itself (e.g. it keeps diverging).
    #[error("training: {0}")]
    Training(String),
    /// A Rerun recording or viewer, or an experiment's plot, that failed.
    #[error("rerun: {0}")]
    Viz(String),
}

impl Error {
    /// An [`Error::Io`] on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }
    /// An [`Error::Invalid`] at `at`.
    pub(crate) fn invalid(at: Location, message: impl Into<String>) -> Self {
        Error::Invalid { at: Box::new(at), message: message.into() }
    }
    /// An [`Error::Option`] for `option` (name it as the user writes it).
    pub fn option(option: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Option { option: option.into(), message: message.into() }
    }
}

/// The crate's result type, [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Longest excerpt of the input (a value, a name) that a message quotes, in characters.
const MAX_EXCERPT: usize = 40;
/// Longest message a parser's error may give us, in characters.
const MAX_PARSER_MESSAGE: usize = 300;

/// A value quoted in an error message, cut to a short prefix: a 16 MB field must not make a
/// 16 MB message.
pub(crate) fn quote(value: &str) -> String {
    match value.char_indices().nth(MAX_EXCERPT) {
        None => format!("\"{value}\""),
        Some((at, _)) => format!("\"{}…\" ({} bytes)", &value[..at], value.len()),
    }
}

/// `value` as [`quote`] would show it, without the quotes.
fn cut(value: &str) -> String {
    match value.char_indices().nth(MAX_EXCERPT) {
        None => value.to_string(),
        Some((at, _)) => format!("{}… ({} bytes)", &value[..at], value.len()),
    }
}

/// Names (channels, phases, episodes) listed in a message: each cut like `quote` cuts a
/// value, and at most a screenful of them.
pub(crate) fn list<S: AsRef<str>>(names: &[S]) -> String {
    const MAX_LISTED: usize = 32;
    let mut out: Vec<String> = names.iter().take(MAX_LISTED).map(|n| cut(n.as_ref())).collect();
    if names.len() > MAX_LISTED {
        out.push(format!("… ({} in all)", names.len()));
    }
    out.join(", ")
}

/// A third-party parser's message (serde_json, toml, csv, XML), which may quote the input
/// verbatim (`unknown field `<16 MB>``): long words are cut like `quote` cuts values, and the
/// whole message to a few lines.
pub fn parser_message(message: impl fmt::Display) -> String {
    let words: Vec<String> = message.to_string().split(' ').map(cut).collect();
    let message = words.join(" ");
    match message.char_indices().nth(MAX_PARSER_MESSAGE) {
        None => message,
        Some((at, _)) => format!("{}…", &message[..at]),
    }
}
