//! Importers: data in the formats robot-learning people record (LeRobot, robomimic and robosuite
//! HDF5, plain CSV) turned into a [`Dataset`] in memory, which [`Imported::save`] writes in our
//! folder format. Every importer hands its episodes to [`Dataset::new`], so imported data gets the
//! same checks as loaded data; what is specific to a format (its layout, its types, its indices)
//! is checked here, and every error names the file and the place in it (line or row, group,
//! column).
//!
//! Which source entries become arm joints, gripper channels or auxiliary channels is chosen by a
//! [`Mapping`] (a TOML file and/or command-line flags); without one, entries whose names contain
//! `gripper`, `finger`, `hand`, `jaw` or `claw` are gripper channels and the rest arm joints.

pub(crate) mod csv;
#[cfg(feature = "import")]
mod guard;
#[cfg(feature = "import")]
mod hdf5;
#[cfg(feature = "import")]
pub mod lerobot;
#[cfg(feature = "import")]
mod mjcf_scene;
#[cfg(feature = "import")]
pub mod robomimic;
#[cfg(feature = "import")]
pub mod robosuite;
mod roles;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::dataset::{AngleUnit, Dataset, TimeUnit};
use crate::error::{Error, Location, Result};

/// Largest inflation stored data can have over the bytes it is stored in (deflate's maximum
/// ratio is about 1032:1); an HDF5 shape or a parquet page that claims more is damaged.
#[cfg(feature = "import")]
const MAX_INFLATION: u64 = 1100;
/// Reads up to this size are always allowed, whatever the file size.
#[cfg(feature = "import")]
const MIN_READ_LIMIT: u64 = 1 << 26;

pub use roles::Roles;
pub(crate) use roles::assign_roles;
#[cfg(feature = "import")]
pub(crate) use roles::is_gripper_name;

/// The command channels of a source whose command entries are `names`: each named
/// `<prefix>.<name>` (distinct from the state channels), driving the state channel of the same
/// name when the dataset keeps one.
#[cfg(feature = "import")]
pub(crate) fn command_channels(
    prefix: &str,
    names: &[String],
    state: &[String],
) -> Vec<crate::data::dataset::CommandChannel> {
    names
        .iter()
        .map(|n| crate::data::dataset::CommandChannel {
            name: format!("{prefix}.{n}"),
            unit: None,
            drives: state.iter().find(|s| *s == n).cloned(),
        })
        .collect()
}

/// The formats `trajrnn import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A LeRobot dataset folder (v2.0/v2.1: one parquet file per episode; v3.0: several per file).
    Lerobot,
    /// A robomimic HDF5 file (`data/demo_N/obs/...`, `mask/train`, `mask/valid`).
    Robomimic,
    /// A robosuite demonstration folder (`demo.hdf5` with `states`, `models/*.xml`).
    Robosuite,
    /// CSV files with a header: one per episode, or one with an episode column.
    Csv,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Lerobot => "lerobot",
            Format::Robomimic => "robomimic",
            Format::Robosuite => "robosuite",
            Format::Csv => "csv",
        })
    }
}

/// How source entries map onto the dataset: a TOML file (`--mapping`), overridden field by field
/// by command-line flags. Every field is optional; unknown keys are an error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mapping {
    /// Dataset name (default: the output folder's name, or the source's).
    pub name: Option<String>,
    /// Robot identifier (default: what the source says, e.g. LeRobot's `robot_type`).
    pub robot: Option<String>,
    /// Source entries that are arm joints, in this order.
    pub joints: Option<Vec<String>>,
    /// Source entries that are gripper channels, in this order.
    pub gripper: Option<Vec<String>>,
    /// Source entries read and predicted but not scored as robot channels.
    pub auxiliary: Vec<String>,
    /// Unit of the arm joints in the source (`rad` or `deg`); degrees are converted.
    pub angle_unit: Option<AngleUnit>,
    /// Informative unit of the gripper channels (`m`, `1`…).
    pub gripper_unit: Option<String>,
    /// CSV: the time column (default `time`, else `timestamp`).
    pub time_column: Option<String>,
    /// CSV: the unit of the time column (`s`, `ms`, `us`, `ns`).
    pub time_unit: Option<TimeUnit>,
    /// CSV: a column whose value names the episode of each row (rows of an episode together).
    pub episode_column: Option<String>,
    /// Sampling rate in Hz, where the source has no timestamps (robomimic) or to override the
    /// rate measured from the timestamps.
    pub rate_hz: Option<f64>,
    /// LeRobot: the state feature (default `observation.state`, else `state`).
    pub state_key: Option<String>,
    /// LeRobot: the command feature (default `action`, else `actions`, when there is one).
    pub action_key: Option<String>,
    /// CSV: the columns that are commands (what was sent to the robot), kept beside the state.
    pub commands: Option<Vec<String>>,
    /// Leave the source's commands out of the dataset.
    pub no_commands: bool,
    /// robomimic: the observation prefix of the robot (default `robot0`).
    pub robot_prefix: Option<String>,
    /// robosuite / robomimic: the MJCF site that is the end effector (default: the robot's
    /// `*grip_site`).
    pub end_effector: Option<String>,
    /// Drop frames that repeat the previous frame exactly (same time and values).
    pub drop_duplicates: bool,
    /// Round state values to this many significant decimal digits (as a text export would).
    pub significant_digits: Option<u32>,
    /// Round timestamps to this many decimals (seconds).
    pub time_decimals: Option<u32>,
    /// Licence text recorded in `dataset.json`.
    pub license: Option<String>,
    /// A robot description to use instead of the one the source gives (e.g. a URDF with meshes
    /// for LeRobot data); its `path` is relative to the output folder.
    pub robot_description: Option<crate::data::RobotDescriptionRef>,
}

impl Mapping {
    /// Reads a mapping file; errors name the file, line and key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| {
            let mut at = Location::file(path);
            if let Some(span) = e.span() {
                at = at.line(text[..span.start.min(text.len())].matches('\n').count() as u64 + 1);
            }
            Error::invalid(at, e.message().to_string())
        })
    }

    /// `other`'s set fields replace this mapping's (flags over the file).
    pub fn overridden_by(mut self, other: Mapping) -> Mapping {
        macro_rules! take {
            ($($f:ident),*) => { $( if other.$f.is_some() { self.$f = other.$f; } )* };
        }
        take!(
            name,
            robot,
            joints,
            gripper,
            angle_unit,
            gripper_unit,
            time_column,
            time_unit,
            episode_column,
            rate_hz,
            state_key,
            action_key,
            commands,
            robot_prefix,
            end_effector,
            significant_digits,
            time_decimals,
            license,
            robot_description
        );
        if !other.auxiliary.is_empty() {
            self.auxiliary = other.auxiliary;
        }
        self.drop_duplicates |= other.drop_duplicates;
        self.no_commands |= other.no_commands;
        self
    }

    /// The mapping of an import: the file's fields, overridden by the flags'. The dataset name
    /// comes from the flags when `name_flag` says `--name` was given or the file names none (the
    /// flags then carry the output folder's name).
    pub fn resolve(file: Mapping, flags: Mapping, name_flag: bool) -> Mapping {
        let name_from_flags = name_flag || file.name.is_none();
        let name = flags.name.clone();
        let mut mapping = file.overridden_by(Mapping { name: None, ..flags });
        if name_from_flags {
            mapping.name = name;
        }
        mapping
    }
}

/// What an importer did, for the user to check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// The format read, with its version where it has one (`csv`, `robomimic`, `lerobot v2.1`;
    /// `trajrnn` for one of our own folders).
    pub format: String,
    /// The file or folder imported.
    pub source: PathBuf,
    /// Episodes in the imported dataset.
    pub episodes: usize,
    /// Frames in all episodes together (after dropped duplicates).
    pub frames: usize,
    /// The arm joint channels, in dataset order.
    pub joints: Vec<String>,
    /// The gripper channels, in dataset order.
    pub gripper: Vec<String>,
    /// The auxiliary channels, in dataset order.
    pub auxiliary: Vec<String>,
    /// Command channels kept beside the state (`name → driven channel`).
    pub commands: Vec<String>,
    /// Source entries left out because no role was given to them.
    pub ignored: Vec<String>,
    /// Exact duplicate frames dropped (only with `drop_duplicates`).
    pub dropped_duplicates: usize,
    /// Episodes in the declared train / validation split, when the source has one.
    pub split: Option<(usize, usize)>,
    /// Nominal sampling rate of the dataset, Hz (from the source, the timestamps or the mapping).
    pub rate_hz: f64,
    /// Anything else worth knowing (a fallback taken, a conversion made).
    pub notes: Vec<String>,
}

impl ImportReport {
    /// What `dataset` holds once imported; the reader says what it left out (`ignored`), how
    /// many duplicate frames it dropped and anything else worth knowing (`notes`).
    pub(crate) fn of(
        format: String,
        source: &Path,
        dataset: &Dataset,
        ignored: Vec<String>,
        dropped_duplicates: usize,
        notes: Vec<String>,
    ) -> Self {
        ImportReport {
            format,
            source: source.to_path_buf(),
            episodes: dataset.episodes.len(),
            frames: dataset.total_frames(),
            joints: dataset.meta.joints.clone(),
            gripper: dataset.meta.gripper.clone(),
            auxiliary: dataset.meta.auxiliary.clone(),
            commands: dataset
                .meta
                .commands
                .iter()
                .map(|c| match &c.drives {
                    Some(d) => format!("{} → {d}", c.name),
                    None => c.name.clone(),
                })
                .collect(),
            ignored,
            dropped_duplicates,
            split: dataset.meta.split.as_ref().map(|s| (s.train.len(), s.valid.len())),
            rate_hz: dataset.meta.rate_hz,
            notes,
        }
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} {}: {} episodes, {} frames at {} Hz",
            self.format,
            self.source.display(),
            self.episodes,
            self.frames,
            self.rate_hz
        )?;
        writeln!(f, "  joints ({}): {}", self.joints.len(), self.joints.join(", "))?;
        writeln!(f, "  gripper ({}): {}", self.gripper.len(), self.gripper.join(", "))?;
        if !self.auxiliary.is_empty() {
            writeln!(f, "  auxiliary ({}): {}", self.auxiliary.len(), self.auxiliary.join(", "))?;
        }
        if !self.commands.is_empty() {
            writeln!(f, "  commands ({}): {}", self.commands.len(), self.commands.join(", "))?;
        }
        if !self.ignored.is_empty() {
            writeln!(f, "  ignored ({}): {}", self.ignored.len(), self.ignored.join(", "))?;
        }
        writeln!(f, "  dropped duplicate frames: {}", self.dropped_duplicates)?;
        if let Some((train, valid)) = self.split {
            writeln!(f, "  declared split: {train} training, {valid} validation episodes")?;
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        Ok(())
    }
}

/// An imported dataset with the files that go beside its `dataset.json` (a robot description).
#[derive(Debug, Clone)]
pub struct Imported {
    /// The imported data, validated by [`Dataset::new`].
    pub dataset: Dataset,
    /// What the importer did, for the user to check.
    pub report: ImportReport,
    /// `(file name, contents)`, written next to `dataset.json`.
    pub files: Vec<(String, Vec<u8>)>,
}

impl Imported {
    /// Writes the dataset folder at `out` (which must not exist or be empty), atomically.
    pub fn save(&self, out: &Path) -> Result<()> {
        let files: Vec<(&str, &[u8])> = self.files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
        self.dataset.save(out, &files)
    }
}

/// Imports `source` in `format`. The heavy formats need the cargo feature `import`.
pub fn import(format: Format, source: &Path, mapping: &Mapping) -> Result<Imported> {
    let mut imported = import_as_given(format, source, mapping)?;
    if let Some(description) = &mapping.robot_description {
        imported.dataset.meta.robot_description = Some(description.clone());
        imported.files.retain(|(name, _)| name != "robot.xml");
        imported.report.notes.retain(|n| !n.starts_with("robot.xml"));
        imported.report.notes.push(format!("robot description from the mapping: {}", description.path));
    }
    Ok(imported)
}

fn import_as_given(format: Format, source: &Path, mapping: &Mapping) -> Result<Imported> {
    match format {
        Format::Csv => csv::import(source, mapping),
        #[cfg(feature = "import")]
        Format::Lerobot => lerobot::import(source, mapping),
        #[cfg(feature = "import")]
        Format::Robomimic => robomimic::import_robomimic(source, mapping),
        #[cfg(feature = "import")]
        Format::Robosuite => robosuite::import(source, mapping),
        #[cfg(not(feature = "import"))]
        other => Err(Error::option(
            "FORMAT",
            format!("this build cannot read {other} data: rebuild with `--features import`"),
        )),
    }
}

/// The dataset's name: the mapping's, else `fallback`'s file name.
pub(crate) fn dataset_name(mapping: &Mapping, fallback: &Path) -> String {
    mapping.name.clone().unwrap_or_else(|| {
        fallback.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "imported".into())
    })
}

/// Nominal rate from the median time step over all episodes (rounded to 1 mHz), or `None` when
/// there is no step.
pub(crate) fn rate_from_steps<'a>(times: impl Iterator<Item = &'a [f64]>) -> Option<f64> {
    let mut steps: Vec<f64> = times.flat_map(|t| t.windows(2).map(|w| w[1] - w[0])).collect();
    if steps.is_empty() {
        return None;
    }
    let mid = steps.len() / 2;
    let (_, median, _) = steps.select_nth_unstable_by(mid, f64::total_cmp);
    let rate = 1.0 / *median;
    (rate.is_finite() && rate > 0.0).then(|| (rate * 1000.0).round() / 1000.0)
}

/// Removes frames that repeat the previous frame exactly (time and values); returns how many.
#[cfg_attr(not(feature = "import"), allow(dead_code))]
pub(crate) fn drop_duplicate_frames(
    time: &mut Vec<f64>,
    states: &mut Vec<f32>,
    dim: usize,
    commands: Option<&mut Vec<f32>>,
) -> usize {
    let mut none = Vec::new();
    let commands = commands.unwrap_or(&mut none);
    let m = if time.is_empty() { 0 } else { commands.len() / time.len() };
    let mut keep = 0;
    for i in 0..time.len() {
        let repeats = keep > 0
            && time[i] == time[keep - 1]
            && crate::data::channels::row(states, dim, i) == crate::data::channels::row(states, dim, keep - 1)
            && crate::data::channels::row(commands, m, i) == crate::data::channels::row(commands, m, keep - 1);
        if repeats {
            continue;
        }
        if keep != i {
            time[keep] = time[i];
            states.copy_within(i * dim..(i + 1) * dim, keep * dim);
            commands.copy_within(i * m..(i + 1) * m, keep * m);
        }
        keep += 1;
    }
    let dropped = time.len() - keep;
    time.truncate(keep);
    states.truncate(keep * dim);
    commands.truncate(keep * m);
    dropped
}

/// `value` rounded to `digits` significant decimal digits, through the same text round trip a
/// `%.{digits}g` export and our CSV reader make (so an import can reproduce such files exactly).
#[cfg_attr(not(feature = "import"), allow(dead_code))]
pub(crate) fn round_significant(value: f64, digits: u32) -> f32 {
    let digits = digits.clamp(1, 17) as usize;
    format!("{value:.prec$e}", prec = digits - 1).parse::<f64>().map_or(value as f32, |v| v as f32)
}

/// `t` rounded to `decimals` decimals through text, like `%.{decimals}f`.
#[cfg_attr(not(feature = "import"), allow(dead_code))]
pub(crate) fn round_decimals(t: f64, decimals: u32) -> f64 {
    format!("{t:.prec$}", prec = decimals.min(17) as usize).parse().unwrap_or(t)
}

/// An f32 read from a file, widened to the f64 with the same shortest decimal form (so 0.1f32
/// becomes 0.1, not 0.10000000149011612, and writes back as it was read).
#[cfg_attr(not(feature = "import"), allow(dead_code))]
pub(crate) fn widen(v: f32) -> f64 {
    if v.is_finite() { v.to_string().parse().unwrap_or(v as f64) } else { v as f64 }
}

/// Panics inside the HDF5 reader and inside parquet that this process turned into errors (see
/// `guard.rs`); the malformed-input tests report them.
#[cfg(feature = "import")]
pub fn panics_caught() -> (usize, usize) {
    (guard::caught(guard::Library::Hdf5), guard::caught(guard::Library::Parquet))
}
