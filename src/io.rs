//! Atomic file output: write to a temporary file beside the target, flush it to disk, then
//! rename it over the target. A crash or error at any point leaves the previous file intact.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `path` atomically with whatever `write` puts into the file.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut fs::File) -> std::io::Result<()>) -> Result<()> {
    let dir = create_parent_dir(path)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    write(tmp.as_file_mut()).map_err(|e| Error::io(path, e))?;
    tmp.as_file_mut().flush().map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(dir);
    Ok(())
}

/// Moves a finished file into place (same filesystem), flushing its data and the rename to disk.
pub fn commit_file(tmp: &Path, path: &Path) -> Result<()> {
    fs::File::open(tmp).and_then(|f| f.sync_all()).map_err(|e| Error::io(tmp, e))?;
    fs::rename(tmp, path).map_err(|e| Error::io(path, e))?;
    sync_dir(parent_dir(path));
    Ok(())
}

/// A temporary path beside `path` (same directory, so the final rename is atomic); creates the
/// directory if needed.
pub fn temp_path_for(path: &Path) -> Result<std::path::PathBuf> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(create_parent_dir(path)?.join(format!(".{name}.{}.tmp", std::process::id())))
}

/// The directory `path` lives in (`.` for a bare file name), created if missing.
fn create_parent_dir(path: &Path) -> Result<&Path> {
    let dir = parent_dir(path);
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    Ok(dir)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn sync_dir(dir: &Path) {
    // Best effort: not every platform lets a directory be opened for fsync.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
