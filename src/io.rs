//! Atomic file output: write to a temporary file beside the target, flush it to disk, then
//! rename it over the target. A crash or error at any point leaves the previous file intact.
//!
//! Temporary files are named `.<target>.<writer>.<random>.tmp` and created with the user's umask
//! (like any other file the user writes); `<writer>` is the writing process's pid, start time and
//! boot, so a later process that reuses the pid is not mistaken for the writer, and another
//! machine's writer on a shared file system is left alone. A writer killed
//! mid-write strands its temporary file; the next write of the same file removes every such file
//! whose writer is gone, and a run sweeps its whole folder when it starts
//! (`remove_stale_temps_in`). Folders written whole (`staging_dir_for`) are staged the same
//! way, and a run folder is held by one process at a time (`FolderLock`).

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
pub(crate) fn temp_file_for(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = create_parent_dir(path)?;
    let name = file_name(path);
    remove_stale_temps(dir, &name);
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{name}.{}.", writer_tag());
    builder.prefix(&prefix).suffix(TEMP_SUFFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The kernel applies the umask to this mode, as for any file the user creates.
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))
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

/// Suffix of temporary files.
const TEMP_SUFFIX: &str = ".tmp";
/// Suffix of staging folders (a folder written whole, renamed into place when complete).
const STAGING_SUFFIX: &str = ".staging";

/// An empty staging folder beside `root`, to be filled and renamed onto `root` by the caller,
/// after removing the staging folders of `root` whose writers have died. Creates the parent
/// folder if needed.
pub(crate) fn staging_dir_for(root: &Path) -> Result<tempfile::TempDir> {
    let parent = create_parent_dir(root)?;
    let name = file_name(root);
    remove_stale(parent, |target| target == name);
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{name}.{}.", writer_tag());
    builder.prefix(&prefix).suffix(STAGING_SUFFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o777)); // the umask applies
    }
    builder.tempdir_in(parent).map_err(|e| Error::io(parent, e))
}

/// Removes `.<name>.<writer>.*.tmp` files in `dir` whose writer process no longer runs.
pub(crate) fn remove_stale_temps(dir: &Path, name: &str) {
    remove_stale(dir, |target| target == name);
}

/// Removes every temporary file in `dir` whose writer process no longer runs, whatever file it
/// was writing: a run may not write that file again (a resumed run that never improves does
/// not rewrite `best.ckpt`).
pub(crate) fn remove_stale_temps_in(dir: &Path) {
    remove_stale(dir, |_| true);
}

fn remove_stale(dir: &Path, target: impl Fn(&str) -> bool) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some((name, writer, is_dir)) = temp_name_parts(&file) else { continue };
        if target(name) && writer != writer_tag() && !writer_alive(writer) {
            let _ = if is_dir { fs::remove_dir_all(entry.path()) } else { fs::remove_file(entry.path()) };
        }
    }
}

/// The target name and writer of a temporary file `.<name>.<writer>.<random>.tmp` or staging
/// folder `.<name>.<writer>.<random>.staging`, and whether it is the folder.
fn temp_name_parts(file: &str) -> Option<(&str, &str, bool)> {
    let rest = file.strip_prefix('.')?;
    let (rest, is_dir) = match rest.strip_suffix(TEMP_SUFFIX) {
        Some(r) => (r, false),
        None => (rest.strip_suffix(STAGING_SUFFIX)?, true),
    };
    let mut parts = rest.rsplitn(3, '.');
    let (_random, writer, name) = (parts.next()?, parts.next()?, parts.next()?);
    writer.split('-').next()?.parse::<u32>().ok()?;
    Some((name, writer, is_dir))
}

#[doc(hidden)] // public for the tests that forge other writers' files
/// This process as a writer: `<pid>-<start>-<boot>` on Linux (the start time in clock ticks
/// since boot, and the first 8 hex digits of the kernel's boot id, so that a file written by
/// another machine sharing the folder, or before a reboot, is told apart), `<pid>` elsewhere.
pub fn writer_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        let pid = std::process::id();
        match (process_start(pid), boot_id()) {
            (Some(start), Some(boot)) => format!("{pid}-{start}-{boot}"),
            _ => pid.to_string(),
        }
    })
}

/// Whether the process a writer tag names may still run. Gone: a pid that no longer runs on
/// this machine, or runs with another start time (the pid was reused). A writer of another boot
/// (another machine on a shared file system, or this one before a reboot) cannot be asked, so it
/// counts as running: its files are left alone.
fn writer_alive(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let Some(Ok(pid)) = parts.next().map(str::parse::<u32>) else { return false };
    if !cfg!(target_os = "linux") {
        return true; // without a portable check, leave other writers' files alone
    }
    let (start, boot) = (parts.next(), parts.next());
    if boot.is_some_and(|b| Some(b) != boot_id()) {
        return true;
    }
    match (process_start(pid), start) {
        (None, _) => false,
        (Some(now), Some(then)) => then.parse::<u64>().is_ok_and(|then| then == now),
        (Some(_), None) => true,
    }
}

/// The first 8 hex digits of this boot's id (`/proc/sys/kernel/random/boot_id`), if known.
fn boot_id() -> Option<&'static str> {
    static BOOT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| {
        let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let hex: String = id.chars().filter(char::is_ascii_hexdigit).take(8).collect();
        (hex.len() == 8).then_some(hex)
    })
    .as_deref()
}

/// When process `pid` started (clock ticks since boot: field 22 of `/proc/PID/stat`), or `None`
/// when no such process runs or the platform does not say.
fn process_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; fields 3.. follow.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

fn sync_dir(dir: &Path) {
    // Best effort: not every platform lets a directory be opened for fsync.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Name of the lock file a [`FolderLock`] holds.
pub(crate) const LOCK_FILE: &str = ".trajrnn.lock";

/// An exclusive hold on a folder: an advisory `flock` on `<folder>/.trajrnn.lock`, which names the
/// holder (pid and start) for anyone refused. The kernel releases it when the holder ends,
/// however it ends, so a lock left by a killed run never blocks the next one; a holder that ends
/// normally removes the file.
#[derive(Debug)]
pub(crate) struct FolderLock {
    file: fs::File,
    path: PathBuf,
    /// Who held the folder before and ended without releasing it (killed), if anyone.
    pub(crate) taken_over: Option<String>,
    /// The file system offers no locks (some network mounts): the folder is not guarded.
    pub(crate) unguarded: bool,
}

impl FolderLock {
    /// Takes the folder `dir` (which must exist), or fails at once, naming the process that holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<Self> {
        use std::io::{Read, Seek};
        let path = dir.join(LOCK_FILE);
        loop {
            let mut file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            let mut holder = String::new();
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                use std::os::unix::io::AsRawFd;
                // SAFETY: flock on a descriptor this function owns; it does not touch memory.
                if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                    let err = std::io::Error::last_os_error();
                    if matches!(err.raw_os_error(), Some(libc::ENOLCK | libc::EOPNOTSUPP)) {
                        // A network file system without locks: run unguarded rather than not at all.
                        return Ok(Self { file, path, taken_over: None, unguarded: true });
                    }
                    if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                        return Err(Error::io(&path, err));
                    }
                    let _ = file.read_to_string(&mut holder);
                    let holder =
                        if holder.trim().is_empty() { "a process that is starting".into() } else { describe(&holder) };
                    return Err(Error::io(
                        dir,
                        std::io::Error::other(format!(
                            "is in use by another trajrnn run ({holder}); wait for it to end, or stop it"
                        )),
                    ));
                }
                // The holder before may have removed the file between our open and our lock: then
                // the lock is on a file nobody else will see; start again with the current file.
                let same = fs::metadata(&path).is_ok_and(|m| file.metadata().is_ok_and(|f| f.ino() == m.ino()));
                if !same {
                    continue;
                }
            }
            file.read_to_string(&mut holder).map_err(|e| Error::io(&path, e))?;
            let taken_over = Some(holder.trim()).filter(|h| !h.is_empty()).map(describe);
            let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let record = format!("pid {} started {started}\n", std::process::id());
            file.set_len(0)
                .and_then(|_| file.rewind())
                .and_then(|_| file.write_all(record.as_bytes()))
                .map_err(|e| Error::io(&path, e))?;
            return Ok(Self { file, path, taken_over, unguarded: false });
        }
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // Removed while still locked (the lock goes with the descriptor, just after): a lock
        // file left behind means its holder was killed.
        let _ = fs::remove_file(&self.path);
        let _ = self.file.set_len(0);
    }
}

/// A lock file's `pid N started UNIX_SECONDS` as `pid N, started S s ago`.
fn describe(record: &str) -> String {
    let mut words = record.split_whitespace();
    match (words.next(), words.next(), words.next(), words.next().and_then(|s| s.parse::<u64>().ok())) {
        (Some("pid"), Some(pid), Some("started"), Some(started)) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            format!("pid {pid}, started {} s ago", now.saturating_sub(started))
        }
        _ => "holder unknown".into(),
    }
}
