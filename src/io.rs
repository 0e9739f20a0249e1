//! Atomic file output: write to a temporary file beside the target, flush it to disk, then
//! rename it over the target. A crash or error at any point leaves the previous file intact.
//!
//! Temporary files are named `.<target>.<pid>.<random>.tmp` and created with the user's umask
//! (like any other file the user writes). A writer killed mid-write strands its temporary file;
//! the next write beside it removes every temporary file whose process is gone.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `path` atomically with whatever `write` puts into the file.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut fs::File) -> std::io::Result<()>) -> Result<()> {
    let mut tmp = temp_file_for(path)?;
    write(tmp.as_file_mut()).map_err(|e| Error::io(path, e))?;
    tmp.as_file_mut().flush().map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(parent_dir(path));
    Ok(())
}

/// A temporary file beside `path` (same directory, so the final rename is atomic), after
/// removing stale temporary files of dead writers. Creates the directory if needed.
pub fn temp_file_for(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = create_parent_dir(path)?;
    let name = file_name(path);
    remove_stale_temps(dir, &name);
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{name}.{}.", std::process::id());
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The kernel applies the umask to this mode, as for any file the user creates.
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))
}

/// A temporary path beside `path` for writers that need a path rather than a file handle
/// (the Rerun SDK saves to a path). The file is created empty; commit it with [`commit_file`].
pub fn temp_path_for(path: &Path) -> Result<PathBuf> {
    let tmp = temp_file_for(path)?;
    tmp.into_temp_path().keep().map_err(|e| Error::io(path, e.error))
}

/// Moves a finished file into place (same filesystem), flushing its data and the rename to disk.
pub fn commit_file(tmp: &Path, path: &Path) -> Result<()> {
    fs::File::open(tmp).and_then(|f| f.sync_all()).map_err(|e| Error::io(tmp, e))?;
    fs::rename(tmp, path).map_err(|e| Error::io(path, e))?;
    sync_dir(parent_dir(path));
    Ok(())
}

/// Checks, before any work starts, that `path` can be written: its folder exists or can be
/// created, is writable, and `path` is not a folder.
pub fn check_writable(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(Error::io(path, std::io::Error::other("is a folder; give a file name")));
    }
    let tmp = temp_file_for(path)?;
    drop(tmp);
    Ok(())
}

/// Checks that `dir` is (or can be made) a writable folder.
pub fn check_writable_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::io(dir, std::io::Error::other("exists and is not a folder")));
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    tempfile::Builder::new().prefix(".trajrnn-check.").tempfile_in(dir).map(drop).map_err(|e| Error::io(dir, e))
}

/// The directory `path` lives in (`.` for a bare file name), created if missing.
pub(crate) fn create_parent_dir(path: &Path) -> Result<&Path> {
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

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Removes `.<name>.<pid>.*.tmp` files in `dir` whose writer process no longer runs.
pub fn remove_stale_temps(dir: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix).filter(|r| r.ends_with(".tmp")) else { continue };
        let Some(pid) = rest.split('.').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid != std::process::id() && !process_alive(pid) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true // without a portable check, leave other writers' files alone
    }
}

fn sync_dir(dir: &Path) {
    // Best effort: not every platform lets a directory be opened for fsync.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
