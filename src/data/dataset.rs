//! A dataset folder: `dataset.json` (what the channels are, the robot, the rate) and one CSV
//! file per episode under `episodes/`. See `docs/dataset-format.md`.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Location, Result};

pub const FORMAT_NAME: &str = "trajrnn-trajectories";
pub const FORMAT_VERSION: u32 = 1;

/// The contents of `dataset.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatasetMeta {
    pub format: String,
    pub format_version: u32,
    pub name: String,
    /// Robot identifier, e.g. `panda`.
    pub robot: String,
    /// Nominal sampling rate in Hz (timestamps in the episodes are authoritative).
    pub rate_hz: f64,
    /// Arm joint columns, radians.
    pub joints: Vec<String>,
    /// Gripper columns (finger slides in metres or an opening in [0, 1]); may be empty.
    #[serde(default)]
    pub gripper: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robot_description: Option<RobotDescriptionRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
}

/// Which robot description gives the forward kinematics for this data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RobotDescriptionRef {
    /// `mjcf` (MuJoCo XML) for now.
    pub format: String,
    /// Path relative to the dataset folder.
    pub path: String,
    /// Name of the site (MJCF) whose position is the end effector.
    pub end_effector_site: String,
}

impl DatasetMeta {
    /// All state channels in column order: joints, then gripper.
    pub fn channels(&self) -> Vec<String> {
        self.joints.iter().chain(&self.gripper).cloned().collect()
    }

    pub fn dim(&self) -> usize {
        self.joints.len() + self.gripper.len()
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let bad = |field: &str, msg: String| Err(Error::invalid(Location::file(path).column(field), msg));
        if self.format != FORMAT_NAME {
            return bad("format", format!("expected \"{FORMAT_NAME}\", found \"{}\"", self.format));
        }
        if self.format_version != FORMAT_VERSION {
            return bad(
                "format_version",
                format!("this build reads version {FORMAT_VERSION}, found {}", self.format_version),
            );
        }
        if !(self.rate_hz.is_finite() && self.rate_hz > 0.0) {
            return bad("rate_hz", format!("must be a positive number, found {}", self.rate_hz));
        }
        if self.joints.is_empty() {
            return bad("joints", "lists no joint".into());
        }
        let mut seen = HashSet::new();
        for name in self.channels() {
            if name == "time" || name.is_empty() {
                return bad("joints", format!("invalid channel name \"{name}\""));
            }
            if !seen.insert(name.clone()) {
                return bad("joints", format!("channel \"{name}\" is listed twice"));
            }
        }
        Ok(())
    }
}

/// One recorded episode: timestamps and a row-major `[frames, dim]` state matrix.
#[derive(Debug, Clone)]
pub struct Episode {
    /// File the episode was read from (for error messages and reports).
    pub source: PathBuf,
    pub time: Vec<f64>,
    /// Row-major states, `dim` values per frame, f32 because the models compute in f32.
    pub states: Vec<f32>,
    pub dim: usize,
}

impl Episode {
    pub fn len(&self) -> usize {
        self.time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    /// State at frame `i`.
    pub fn frame(&self, i: usize) -> &[f32] {
        &self.states[i * self.dim..(i + 1) * self.dim]
    }

    /// States of frames `range`, row-major (a view into the episode storage).
    pub fn frames(&self, range: Range<usize>) -> &[f32] {
        &self.states[range.start * self.dim..range.end * self.dim]
    }

    /// Short name for reports (the file name).
    pub fn name(&self) -> String {
        self.source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct Dataset {
    pub root: PathBuf,
    pub meta: DatasetMeta,
    pub episodes: Vec<Episode>,
}

impl Dataset {
    /// Loads and validates a dataset folder. Episodes are the `*.csv` files of `episodes/`,
    /// in file-name order.
    pub fn load(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        let meta = Self::load_meta(&root)?;
        let episode_dir = root.join("episodes");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&episode_dir)
            .map_err(|e| Error::io(&episode_dir, e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::invalid(Location::file(&episode_dir), "holds no episode (*.csv) file"));
        }
        let channels = meta.channels();
        let episodes =
            files.iter().map(|f| super::csv_episode::read_episode(f, &channels)).collect::<Result<Vec<_>>>()?;
        Ok(Self { root, meta, episodes })
    }

    pub fn load_meta(root: &Path) -> Result<DatasetMeta> {
        let path = root.join("dataset.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let meta: DatasetMeta = serde_json::from_str(&text)
            .map_err(|e| Error::invalid(Location::file(&path).line(e.line() as u64), e.to_string()))?;
        meta.validate(&path)?;
        Ok(meta)
    }

    pub fn dim(&self) -> usize {
        self.meta.dim()
    }

    pub fn total_frames(&self) -> usize {
        self.episodes.iter().map(Episode::len).sum()
    }

    /// Path of the robot description named in `dataset.json`, if any.
    pub fn robot_description_path(&self) -> Option<PathBuf> {
        self.meta.robot_description.as_ref().map(|r| self.root.join(&r.path))
    }
}
