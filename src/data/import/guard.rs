//! Calls into third-party parsers fed with untrusted bytes (the HDF5 reader, parquet). A panic
//! inside one of them is a bug there that no check of ours could have prevented (the
//! malformed-input tests found some in parquet 58.4.1, e.g. "Decoder for dict should have been
//! set" on a damaged page); it becomes an error for that file instead of taking the import
//! down, and is counted so the tests can report it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The libraries whose panics are caught.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Library {
    Hdf5,
    Parquet,
}

static CAUGHT: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

/// Runs `f`; its error, or a panic inside it, becomes the message of an `Err`.
pub(crate) fn guard<T, E: std::fmt::Display>(
    library: Library,
    f: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            CAUGHT[library as usize].fetch_add(1, Ordering::Relaxed);
            Err(format!("the {library:?} reader failed on damaged data ({what})"))
        }
    }
}

/// Panics caught so far in this process, per library.
pub(crate) fn caught(library: Library) -> usize {
    CAUGHT[library as usize].load(Ordering::Relaxed)
}
