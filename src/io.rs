//! Atomic file output: write to a temporary file beside the target, flush it to disk, then
//! rename it over the target. A crash or error at any point leaves the previous file intact.
//!
//! Temporary files are named `.<target>.<pid>.<random>.tmp` and created with the user's umask
//! (like any other file the user writes). A writer killed mid-write strands its temporary file;
//! the next write of the same file removes every such file whose process is gone, and a run
//! sweeps its whole folder when it starts ([`remove_stale_temps_in`]).

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
    // Creates the folder; named like every other temporary file, so that a process killed
    // right here leaves nothing that the next run does not sweep.
    temp_file_for(&dir.join("write-check")).map(drop)
}

/// The directory `path` lives in (`.` for a bare file name), created if missing.
pub(crate) fn create_parent_dir(path: &Path) -> Result<&Path> {
    let dir = parent_dir(path);
    fs::create_dir_all(dir).map_err(|e| match dir.ancestors().find(|a| a.is_file()) {
        // create_dir_all says "File exists" or "Not a directory"; say which file is in the way.
        Some(file) => Error::io(file, std::io::Error::other("is a file, not a folder")),
        None => Error::io(dir, e),
    })?;
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
    remove_stale(dir, |target| target == name);
}

/// Removes every temporary file in `dir` whose writer process no longer runs, whatever file it
/// was writing: a run may not write that file again (a resumed run that never improves does
/// not rewrite `best.ckpt`).
pub fn remove_stale_temps_in(dir: &Path) {
    remove_stale(dir, |_| true);
}

fn remove_stale(dir: &Path, target: impl Fn(&str) -> bool) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some((name, pid)) = temp_name_parts(&file) else { continue };
        if target(name) && pid != std::process::id() && !process_alive(pid) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The target name and writer pid of a temporary file named `.<name>.<pid>.<random>.tmp`.
fn temp_name_parts(file: &str) -> Option<(&str, u32)> {
    let rest = file.strip_prefix('.')?.strip_suffix(".tmp")?;
    let mut parts = rest.rsplitn(3, '.');
    let (_random, pid, name) = (parts.next()?, parts.next()?, parts.next()?);
    Some((name, pid.parse().ok()?))
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
