//! The dataset folder format (see `docs/dataset-format.md`): `dataset.json` and one CSV per
//! episode under `episodes/`. Reading parses episodes in parallel; writing builds the whole
//! folder beside its destination and renames it into place, so a failed or interrupted write
//! leaves nothing half-written.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::data::csv_episode::{ReadOptions, read_episode, write_episode};
use crate::data::dataset::{Dataset, DatasetMeta};
use crate::error::{Error, Location, Result, parser_message};

/// Whether datasets read from folders may read the files they name outside their folder
/// ([`Dataset::outside_files`], which a library user can also set per dataset).
static OUTSIDE_FILES: AtomicBool = AtomicBool::new(false);

/// Lets every dataset this process reads from a folder read the files it names outside that
/// folder: the command line's `--allow-outside-files`, for datasets the user trusts. Off by default.
pub fn allow_outside_files(allow: bool) {
    OUTSIDE_FILES.store(allow, Ordering::Relaxed);
}

/// What a dataset folder's listing held besides episode files, for the user to know.
#[derive(Debug, Clone, Default)]
pub(crate) struct Listing {
    /// The episode files (`*.csv`, any case), in file-name order; at least one.
    pub(crate) episodes: Vec<PathBuf>,
    /// Entries of `episodes/` that are not `*.csv` files (skipped, and said so).
    pub(crate) skipped: Vec<PathBuf>,
}

/// The episode files of `root/episodes` (`*.csv`, any case, `.csv` itself included), in
/// file-name order.
pub(crate) fn list_episodes(root: &Path) -> Result<Listing> {
    let dir = root.join("episodes");
    let mut listing = Listing::default();
    for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
        let path = entry.map_err(|e| Error::io(&dir, e))?.path();
        // By name, not `Path::extension`: that sees no extension in a file named `.CSV`.
        let is_csv = path.file_name().is_some_and(|n| n.to_string_lossy().to_ascii_lowercase().ends_with(".csv"));
        if is_csv && path.is_file() {
            listing.episodes.push(path);
        } else {
            listing.skipped.push(path);
        }
    }
    listing.episodes.sort();
    listing.skipped.sort();
    if listing.episodes.is_empty() {
        return Err(Error::invalid(Location::file(&dir), "holds no episode (*.csv) file"));
    }
    Ok(listing)
}

/// Checks that `root` can become a new dataset folder (missing, or an empty folder, in a place
/// that can be written), so a long import fails before its work rather than at the end.
pub fn check_new_folder(root: &Path) -> Result<()> {
    check_empty(root)?;
    // The folder is written beside itself and renamed into place: that place must be writable.
    crate::io::staging_dir_for(root).map(drop)
}

/// Checks that `root` is missing or an empty folder.
fn check_empty(root: &Path) -> Result<()> {
    if root.exists() && fs::read_dir(root).map_err(|e| Error::io(root, e))?.next().is_some() {
        return Err(Error::io(
            root,
            std::io::Error::new(std::io::ErrorKind::AlreadyExists, "exists and is not empty; choose a new folder"),
        ));
    }
    Ok(())
}

/// Reads and validates `root/dataset.json` alone, without the episodes.
pub fn load_meta(root: &Path) -> Result<DatasetMeta> {
    let path = root.join("dataset.json");
    let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let meta: DatasetMeta = serde_json::from_str(&text)
        .map_err(|e| Error::invalid(Location::file(&path).line(e.line() as u64), parser_message(&e)))?;
    meta.validate(&path)?;
    Ok(meta)
}

impl Dataset {
    /// Loads and validates a dataset folder.
    pub fn load(root: impl AsRef<Path>) -> Result<Self> {
        Self::load_with(root, ReadOptions::default())
    }

    /// Loads a dataset folder, with lenient reading where `options` allows it.
    pub fn load_with(root: impl AsRef<Path>, options: ReadOptions) -> Result<Self> {
        let root = root.as_ref();
        let meta = load_meta(root)?;
        let listing = list_episodes(root)?;
        let read = listing.episodes.par_iter().map(|f| read_episode(f, &meta, options)).collect::<Result<Vec<_>>>()?;
        let dropped: usize = read.iter().map(|(_, n)| n).sum();
        let episodes = read.into_iter().map(|(e, _)| e).collect();
        let mut dataset = Dataset::new(meta, episodes, &root.join("dataset.json"))?;
        dataset.root = Some(root.to_path_buf());
        dataset.outside_files = OUTSIDE_FILES.load(Ordering::Relaxed);
        dataset.dropped_frames = dropped;
        dataset
            .warnings
            .extend(listing.skipped.iter().map(|p| format!("{}: skipped, not an episode file (*.csv)", p.display())));
        Ok(dataset)
    }

    /// Writes the dataset as a folder at `root`, which must not exist yet (or be an empty
    /// folder). `extra_files` (name, bytes) are written beside `dataset.json` (e.g. a robot
    /// description). The folder appears complete or not at all.
    pub fn save(&self, root: &Path, extra_files: &[(&str, &[u8])]) -> Result<()> {
        check_empty(root)?;
        let staging = crate::io::staging_dir_for(root)?;
        let dir = staging.path();
        fs::create_dir(dir.join("episodes")).map_err(|e| Error::io(dir, e))?;
        let json = serde_json::to_vec_pretty(&self.meta).expect("metadata serialises");
        fs::write(dir.join("dataset.json"), json).map_err(|e| Error::io(root.join("dataset.json"), e))?;
        for (name, bytes) in extra_files {
            fs::write(dir.join(name), bytes).map_err(|e| Error::io(root.join(name), e))?;
        }
        self.episodes.par_iter().try_for_each(|e| {
            let path = dir.join("episodes").join(format!("{}.csv", e.name));
            let file = fs::File::create(&path).map_err(|err| Error::io(&path, err))?;
            let mut out = std::io::BufWriter::new(file);
            write_episode(&mut out, e, &self.meta).and_then(|_| out.flush()).map_err(|err| Error::io(&path, err))
        })?;
        if root.exists() {
            fs::remove_dir(root).map_err(|e| Error::io(root, e))?;
        }
        let staged = staging.keep();
        fs::rename(&staged, root).map_err(|e| {
            let _ = fs::remove_dir_all(&staged);
            Error::io(root, e)
        })?;
        Ok(())
    }
}
