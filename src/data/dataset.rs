//! A dataset in memory: what the channels are ([`DatasetMeta`]) and the recorded episodes.
//! [`Dataset::new`] validates both, whatever they were read from (our folder format, an
//! importer, the synthetic generator), so every source gets the same checks and messages.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Location, Result, list, quote};

/// The `format` value every `dataset.json` must carry.
pub const FORMAT_NAME: &str = "trajrnn-trajectories";
/// The `format_version` this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Frames an episode needs at the least: one input, the frame before it and the frame after it.
pub(crate) const MIN_EPISODE_FRAMES: usize = 3;
/// Longest robot description path accepted, in bytes.
const MAX_PATH: usize = 1024;
/// A radian channel whose values reach this far (3π) is probably in degrees.
const DEGREES_SUSPECT: f32 = 3.0 * std::f32::consts::PI;

/// The contents of `dataset.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatasetMeta {
    /// Always [`FORMAT_NAME`]; checked on loading.
    pub format: String,
    /// Always [`FORMAT_VERSION`]; another version is refused.
    pub format_version: u32,
    /// Free-text dataset name, shown in reports.
    pub name: String,
    /// Robot identifier, e.g. `panda`.
    pub robot: String,
    /// Nominal sampling rate in Hz. Timestamps are authoritative; the rate converts horizons
    /// (frames) to seconds in reports and is what `inspect` compares the timestamps with.
    pub rate_hz: f64,
    /// Arm joint channels (radians after loading), scored as arm joints.
    pub joints: Vec<String>,
    /// Gripper channels (finger slides in metres or an opening in [0, 1]); may be empty.
    #[serde(default)]
    pub gripper: Vec<String>,
    /// Other channels the model reads and predicts but that are not scored as robot channels:
    /// a door hinge, an object coordinate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auxiliary: Vec<String>,
    /// Commands recorded beside the state at each frame (LeRobot's `action`, robomimic's
    /// `actions`, a controller's setpoints): read by a model trained with them, never predicted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<CommandChannel>,
    /// Names of the phase labels of the optional `phase` column (e.g. approach, grasp, lift).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<String>,
    /// Units of the stored joint and time values (in memory always radians and seconds).
    #[serde(default)]
    pub units: Units,
    /// Robot description for forward kinematics and the 3D view, when the data comes with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robot_description: Option<RobotDescriptionRef>,
    /// A train/validation split that comes with the data (robomimic's `mask/train` and
    /// `mask/valid`), by episode name; `data::split` uses it in `auto` and `declared` modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<DeclaredSplit>,
    /// Where the data comes from, free-form JSON (importers record the source file and the
    /// command; the generator its configuration and scenes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<serde_json::Value>,
    /// Terms under which the data may be used, free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
}

/// A command channel: what was sent to the robot at each frame.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommandChannel {
    /// Column name (distinct from every state channel's).
    pub name: String,
    /// Informative unit (`rad`, `m/s`, `1`…). A command that drives an arm joint is in the
    /// joints' unit and is converted with them (degrees → radians).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The state channel this command is a target for, when there is such a pairing (a leader
    /// arm's joint driving the follower's); commands in another convention drive none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drives: Option<String>,
}

/// Units of the stored values. Joints in degrees and times in milliseconds are converted when
/// the dataset is built, so in memory joints are always radians and times seconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Units {
    /// Unit of the arm joint channels (and of the commands that drive them).
    #[serde(default)]
    pub joints: AngleUnit,
    /// Informative (`m` for finger slides, `1` for an opening).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gripper: Option<String>,
    /// Informative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auxiliary: Option<String>,
    /// Unit of the `time` column.
    #[serde(default)]
    pub time: TimeUnit,
}

/// Unit of stored joint angles (`"rad"` or `"deg"` in `dataset.json`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum AngleUnit {
    /// Radians (`"rad"`), the default and the unit in memory.
    #[default]
    #[serde(rename = "rad")]
    Radians,
    /// Degrees (`"deg"`), converted to radians when the dataset is built.
    #[serde(rename = "deg")]
    Degrees,
}

/// Unit of stored timestamps (`"s"`, `"ms"`, `"us"` or `"ns"` in `dataset.json`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum TimeUnit {
    /// Seconds (`"s"`), the default and the unit in memory.
    #[default]
    #[serde(rename = "s")]
    Seconds,
    /// Milliseconds (`"ms"`).
    #[serde(rename = "ms")]
    Milliseconds,
    /// Microseconds (`"us"`).
    #[serde(rename = "us")]
    Microseconds,
    /// Nanoseconds (`"ns"`).
    #[serde(rename = "ns")]
    Nanoseconds,
}

impl TimeUnit {
    /// Seconds per unit (1e-3 for milliseconds), the factor timestamps are multiplied by.
    pub(crate) fn to_seconds(self) -> f64 {
        match self {
            TimeUnit::Seconds => 1.0,
            TimeUnit::Milliseconds => 1e-3,
            TimeUnit::Microseconds => 1e-6,
            TimeUnit::Nanoseconds => 1e-9,
        }
    }
}

/// Which robot description gives the forward kinematics for this data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RobotDescriptionRef {
    /// `mjcf` (MuJoCo XML) or `urdf`.
    pub format: String,
    /// Path relative to the dataset folder.
    pub path: String,
    /// The end effector: an MJCF `<site>` or a URDF link.
    #[serde(alias = "end_effector_site")]
    pub end_effector: String,
    /// Channel → description joint, for channels not named like the joint they drive (a joint
    /// no channel drives stays at zero, or follows the joint it mimics).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub joints: std::collections::BTreeMap<String, String>,
}

/// Episodes named for training, validation and (optionally) the test report; episodes in no
/// list are not used. Without `test`, the `valid` episodes are held out for the test report and
/// validation episodes are dealt from the `train` ones.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeclaredSplit {
    /// Names of the episodes to train on; at least one.
    pub train: Vec<String>,
    /// Names of the validation episodes (the test episodes when `test` is absent).
    pub valid: Vec<String>,
    /// Names of the episodes held out for the test report, when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
}

impl RobotDescriptionRef {
    /// An MJCF description at `path` (relative to the dataset folder) with end-effector site `site`.
    pub fn mjcf(path: &str, site: &str) -> Self {
        Self { format: "mjcf".into(), path: path.into(), end_effector: site.into(), joints: Default::default() }
    }
}

/// What a channel is, which decides how it is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelRole {
    /// An arm joint (radians), listed in [`DatasetMeta::joints`].
    Joint,
    /// A gripper channel (finger slide in metres or an opening in [0, 1]).
    Gripper,
    /// Read and predicted but not scored as a robot channel (a door hinge, an object coordinate).
    Auxiliary,
}

impl DatasetMeta {
    /// A metadata record for data built in memory (importers, generator).
    pub fn new(name: &str, robot: &str, rate_hz: f64, joints: Vec<String>, gripper: Vec<String>) -> Self {
        Self {
            format: FORMAT_NAME.into(),
            format_version: FORMAT_VERSION,
            name: name.into(),
            robot: robot.into(),
            rate_hz,
            joints,
            gripper,
            auxiliary: vec![],
            commands: vec![],
            phases: vec![],
            units: Units::default(),
            robot_description: None,
            split: None,
            provenance: None,
            license: None,
        }
    }

    /// All state channels in column order: joints, gripper, auxiliary.
    pub fn channels(&self) -> Vec<String> {
        self.joints.iter().chain(&self.gripper).chain(&self.auxiliary).cloned().collect()
    }

    /// The role of each channel, in [`channels`](Self::channels) order.
    pub fn roles(&self) -> Vec<ChannelRole> {
        std::iter::repeat_n(ChannelRole::Joint, self.joints.len())
            .chain(std::iter::repeat_n(ChannelRole::Gripper, self.gripper.len()))
            .chain(std::iter::repeat_n(ChannelRole::Auxiliary, self.auxiliary.len()))
            .collect()
    }

    /// State values per frame: joints, gripper and auxiliary channels together.
    pub fn dim(&self) -> usize {
        self.joints.len() + self.gripper.len() + self.auxiliary.len()
    }

    /// Command channel names, in column order.
    pub fn command_names(&self) -> Vec<String> {
        self.commands.iter().map(|c| c.name.clone()).collect()
    }

    /// Command values per frame.
    pub fn command_dim(&self) -> usize {
        self.commands.len()
    }

    /// For each command, the index of the state channel it drives (`None`: it drives none).
    pub fn driven_channels(&self) -> Vec<Option<usize>> {
        let channels = self.channels();
        self.commands.iter().map(|c| c.drives.as_ref().and_then(|d| channels.iter().position(|x| x == d))).collect()
    }

    /// Checks the metadata; `at` names its file (or source) in messages.
    pub fn validate(&self, at: &Path) -> Result<()> {
        let bad = |field: &str, msg: String| Err(Error::invalid(Location::file(at).column(field), msg));
        if self.format != FORMAT_NAME {
            return bad("format", format!("expected \"{FORMAT_NAME}\", found {}", crate::error::quote(&self.format)));
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
        for (field, names) in [("joints", &self.joints), ("gripper", &self.gripper), ("auxiliary", &self.auxiliary)] {
            for name in names {
                if name == "time" || name == "phase" || name.trim().is_empty() {
                    return bad(
                        field,
                        format!("invalid channel name {} (reserved or empty)", crate::error::quote(name)),
                    );
                }
                if !seen.insert(name.as_str()) {
                    return bad(field, format!("channel {} is listed twice", crate::error::quote(name)));
                }
            }
        }
        for (i, command) in self.commands.iter().enumerate() {
            let field = format!("commands[{i}]");
            let name = &command.name;
            if name == "time" || name == "phase" || name.trim().is_empty() {
                return bad(&field, format!("invalid command name {} (reserved or empty)", crate::error::quote(name)));
            }
            if !seen.insert(name.as_str()) {
                return bad(&field, format!("{} is already a channel or a command", crate::error::quote(name)));
            }
            if let Some(target) = &command.drives
                && !self.channels().contains(target)
            {
                return bad(
                    &format!("{field}.drives"),
                    format!("names {}, which is not a state channel", crate::error::quote(target)),
                );
            }
        }
        let mut phases = HashSet::new();
        for p in &self.phases {
            if p.trim().is_empty() || !phases.insert(p.as_str()) {
                return bad(
                    "phases",
                    format!("phase names must be unique and non-empty, found {}", crate::error::quote(p)),
                );
            }
        }
        if let Some(r) = &self.robot_description {
            if !matches!(r.format.as_str(), "mjcf" | "urdf") {
                return bad(
                    "robot_description",
                    format!("format must be \"mjcf\" or \"urdf\", found {}", crate::error::quote(&r.format)),
                );
            }
            // Every message about the description names this path: keep it a path, not a payload.
            if r.path.is_empty() || r.path.len() > MAX_PATH {
                return bad(
                    "robot_description",
                    format!("path must hold 1 to {MAX_PATH} bytes, found {}", crate::error::quote(&r.path)),
                );
            }
        }
        Ok(())
    }
}

/// One recorded episode: timestamps and a row-major `[frames, dim]` state matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// Short name for reports (e.g. the file stem).
    pub name: String,
    /// Where the episode came from, for error messages (a file, or `file:group`).
    pub source: PathBuf,
    /// Seconds, strictly increasing.
    pub time: Vec<f64>,
    /// Row-major states, `dim` values per frame, f32 because the models compute in f32.
    pub states: Vec<f32>,
    /// State values per frame (the dataset's [`DatasetMeta::dim`]).
    pub dim: usize,
    /// Phase label of every frame (an index into [`DatasetMeta::phases`]), when the data has one.
    pub phase: Option<Vec<u16>>,
    /// Row-major `[frames, command_dim]` commands, when the dataset declares command channels.
    pub commands: Option<Vec<f32>>,
}

impl Episode {
    /// An episode without phase labels or commands; checked only by [`Dataset::new`].
    pub fn new(
        name: impl Into<String>,
        source: impl Into<PathBuf>,
        time: Vec<f64>,
        states: Vec<f32>,
        dim: usize,
    ) -> Self {
        Self { name: name.into(), source: source.into(), time, states, dim, phase: None, commands: None }
    }

    /// The episode with its commands (row-major `[frames, command_dim]`).
    pub fn with_commands(mut self, commands: Vec<f32>) -> Self {
        self.commands = Some(commands);
        self
    }

    /// Command values per frame (0 without commands).
    pub fn command_dim(&self) -> usize {
        match &self.commands {
            Some(c) if !self.time.is_empty() => c.len() / self.time.len(),
            _ => 0,
        }
    }

    /// The commands of frame `i` (empty without commands).
    pub fn command(&self, i: usize) -> &[f32] {
        let m = self.command_dim();
        self.commands.as_ref().map_or(&[][..], |c| crate::data::channels::row(c, m, i))
    }

    /// Frames `range` as rows of the state followed by the commands (`dim + command_dim`
    /// values each: what an encoding that reads commands takes); a view when there are none.
    pub(crate) fn joined(&self, range: Range<usize>) -> std::borrow::Cow<'_, [f32]> {
        let m = self.command_dim();
        if m == 0 {
            return std::borrow::Cow::Borrowed(self.frames(range));
        }
        let mut out = Vec::with_capacity(range.len() * (self.dim + m));
        for t in range {
            out.extend_from_slice(self.frame(t));
            out.extend_from_slice(self.command(t));
        }
        std::borrow::Cow::Owned(out)
    }

    /// The commands of frames `range`, row-major (a view; empty without commands).
    pub fn commands_of(&self, range: Range<usize>) -> &[f32] {
        let m = self.command_dim();
        self.commands.as_ref().map_or(&[][..], |c| &c[range.start * m..range.end * m])
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.time.len()
    }

    /// Whether the episode has no frame.
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

    /// Values of one channel over the episode.
    pub fn channel(&self, c: usize) -> impl Iterator<Item = f32> + '_ {
        self.states.iter().skip(c).step_by(self.dim.max(1)).copied()
    }

    /// Duration from the first to the last frame, seconds.
    pub fn duration(&self) -> f64 {
        match (self.time.first(), self.time.last()) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        }
    }

    fn validate(&self, meta: &DatasetMeta) -> Result<()> {
        let at = || Location::file(&self.source);
        let dim = meta.dim();
        if self.dim != dim || self.states.len() != self.time.len() * dim {
            return Err(Error::invalid(
                at(),
                format!(
                    "{} values for {} frames of {} channels (dataset has {dim} channels)",
                    self.states.len(),
                    self.time.len(),
                    self.dim
                ),
            ));
        }
        if self.len() < MIN_EPISODE_FRAMES {
            return Err(Error::invalid(
                at(),
                format!(
                    "episode {}: {} frame(s): an episode needs at least {MIN_EPISODE_FRAMES}",
                    self.name,
                    self.len()
                ),
            ));
        }
        for (i, t) in self.time.iter().enumerate() {
            if !t.is_finite() {
                return Err(Error::invalid(at().frame(i).column("time"), format!("timestamp {t} is not finite")));
            }
            if i > 0 && *t <= self.time[i - 1] {
                return Err(Error::invalid(
                    at().frame(i).column("time"),
                    format!("timestamps must increase: {t} follows {}", self.time[i - 1]),
                ));
            }
        }
        let names = meta.channels();
        if let Some(i) = self.states.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                at().frame(i / dim).column(&names[i % dim]),
                format!("value {} is not finite", self.states[i]),
            ));
        }
        let m = meta.command_dim();
        match &self.commands {
            None if m > 0 => {
                return Err(Error::invalid(
                    at().column(&meta.commands[0].name),
                    format!("dataset.json names {m} command channel(s) but the episode has no commands"),
                ));
            }
            Some(c) if m == 0 => {
                return Err(Error::invalid(
                    at(),
                    format!("{} command values, but dataset.json names no command channel", c.len()),
                ));
            }
            Some(c) if c.len() != self.len() * m => {
                return Err(Error::invalid(
                    at().column(&meta.commands[0].name),
                    format!("{} command values for {} frames of {m} command channels", c.len(), self.len()),
                ));
            }
            Some(c) => {
                if let Some(i) = c.iter().position(|v| !v.is_finite()) {
                    return Err(Error::invalid(
                        at().frame(i / m).column(&meta.commands[i % m].name),
                        format!("command value {} is not finite", c[i]),
                    ));
                }
            }
            None => {}
        }
        if let Some(phase) = &self.phase {
            if phase.len() != self.len() {
                return Err(Error::invalid(
                    at().column("phase"),
                    format!("{} labels for {} frames", phase.len(), self.len()),
                ));
            }
            if let Some(i) = phase.iter().position(|&p| p as usize >= meta.phases.len()) {
                return Err(Error::invalid(
                    at().frame(i).column("phase"),
                    format!("label {} but dataset.json names {} phases", phase[i], meta.phases.len()),
                ));
            }
        }
        Ok(())
    }
}

/// A validated dataset: its metadata and its episodes, joints in radians and times in seconds.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// What the channels are, the robot and the rate.
    pub meta: DatasetMeta,
    /// The episodes, in file order; at least one, names unique.
    pub episodes: Vec<Episode>,
    /// The folder the dataset was loaded from (robot descriptions are relative to it).
    pub root: Option<PathBuf>,
    /// What the checks found suspicious but not wrong (e.g. radian values that look like degrees).
    pub warnings: Vec<String>,
    /// Exact duplicate frames dropped while reading (only when the reader was asked to).
    pub dropped_frames: usize,
    /// Whether files the dataset names outside its folder (a robot description by absolute path
    /// or through `..`, a URDF's meshes elsewhere) may be read. Off: a downloaded dataset reads
    /// nothing but its own folder (`Dataset::check_inside`).
    pub outside_files: bool,
}

/// Episode names become file names (`episodes/<name>.csv`), so they must not leave the folder.
fn is_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// A declared split names existing episodes, none twice, and trains on at least one.
fn validate_split(split: &DeclaredSplit, episodes: &HashSet<&str>, source: &Path) -> Result<()> {
    let at = |side: &str| Location::file(source).column(format!("split.{side}"));
    let mut seen = HashSet::new();
    let none = Vec::new();
    let test = split.test.as_ref().unwrap_or(&none);
    for (side, names) in [("train", &split.train), ("valid", &split.valid), ("test", test)] {
        for name in names {
            if !episodes.contains(name.as_str()) {
                return Err(Error::invalid(
                    at(side),
                    format!("names episode \"{name}\", which the dataset does not hold"),
                ));
            }
            if !seen.insert(name.as_str()) {
                return Err(Error::invalid(at(side), format!("episode \"{name}\" is listed twice")));
            }
        }
    }
    if split.train.is_empty() {
        return Err(Error::invalid(at("train"), "names no episode"));
    }
    Ok(())
}

impl Dataset {
    /// Validates `meta` and `episodes` and converts declared units (joints in degrees, times in
    /// milliseconds…) to radians and seconds. `source` names the dataset in messages.
    pub fn new(meta: DatasetMeta, episodes: Vec<Episode>, source: &Path) -> Result<Self> {
        let mut meta = meta;
        meta.validate(source)?;
        if episodes.is_empty() {
            return Err(Error::invalid(Location::file(source), "holds no episode"));
        }
        let mut episodes = episodes;
        let mut warnings = Vec::new();
        let to_seconds = meta.units.time.to_seconds();
        if to_seconds != 1.0 {
            for e in &mut episodes {
                e.time.iter_mut().for_each(|t| *t *= to_seconds);
            }
            meta.units.time = TimeUnit::Seconds;
        }
        if meta.units.joints == AngleUnit::Degrees {
            let n = meta.joints.len();
            let m = meta.command_dim();
            let angles: Vec<bool> =
                meta.commands.iter().map(|c| c.drives.as_ref().is_some_and(|d| meta.joints.contains(d))).collect();
            for e in &mut episodes {
                for row in e.states.chunks_exact_mut(e.dim.max(1)) {
                    row.iter_mut().take(n).for_each(|v| *v = v.to_radians());
                }
                if let Some(commands) = e.commands.as_mut().filter(|_| m > 0) {
                    for row in commands.chunks_exact_mut(m) {
                        row.iter_mut().zip(&angles).filter(|(_, a)| **a).for_each(|(v, _)| *v = v.to_radians());
                    }
                }
            }
            meta.units.joints = AngleUnit::Radians;
            warnings.push(format!("{}: joints declared in degrees were converted to radians", source.display()));
        }
        let mut names = HashSet::new();
        for e in &episodes {
            e.validate(&meta)?;
            if !is_file_name(&e.name) {
                return Err(Error::invalid(
                    Location::file(&e.source),
                    format!(
                        "episode name {} cannot be a file name (empty, `.`/`..`, or has a path separator)",
                        crate::error::quote(&e.name)
                    ),
                ));
            }
            if !names.insert(e.name.as_str()) {
                return Err(Error::invalid(
                    Location::file(&e.source),
                    format!("episode name {} is used twice", crate::error::quote(&e.name)),
                ));
            }
        }
        if let Some(split) = &meta.split {
            validate_split(split, &names, source)?;
        }
        for (c, name) in meta.joints.iter().enumerate() {
            let max = episodes.iter().flat_map(|e| e.channel(c)).fold(0f32, |m, v| m.max(v.abs()));
            if max > DEGREES_SUSPECT {
                warnings.push(format!(
                    "{}: joint `{name}` reaches |q| = {max:.1}, which looks like degrees in a radian channel \
                     (declare \"units\": {{\"joints\": \"deg\"}} if it is)",
                    source.display()
                ));
            }
        }
        Ok(Self { meta, episodes, root: None, warnings, dropped_frames: 0, outside_files: false })
    }

    /// State values per frame (see [`DatasetMeta::dim`]).
    pub fn dim(&self) -> usize {
        self.meta.dim()
    }

    /// Frames in all episodes together.
    pub fn total_frames(&self) -> usize {
        self.episodes.iter().map(Episode::len).sum()
    }

    /// The index of the episode called `name`; the error (for option `option`) lists the names.
    pub fn episode_index(&self, name: &str, option: &str) -> Result<usize> {
        self.episodes.iter().position(|e| e.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.episodes.iter().map(|e| e.name.as_str()).collect();
            Error::option(option, format!("no episode {} (episodes: {})", quote(name), list(&names)))
        })
    }

    /// Where `dataset.json` names the robot description, for messages.
    pub(crate) fn robot_description_field(&self) -> Location {
        Location::file(self.root.as_deref().unwrap_or(Path::new(".")).join("dataset.json"))
            .column("robot_description.path")
    }

    /// Path of the robot description named in `dataset.json`, if any.
    pub(crate) fn robot_description_path(&self) -> Option<PathBuf> {
        let r = self.meta.robot_description.as_ref()?;
        Some(self.root.as_deref().unwrap_or(Path::new(".")).join(&r.path))
    }

    /// Checks that `path`, a file this dataset names (at `named_at`, e.g. `dataset.json`'s
    /// `robot_description.path`), lies inside the dataset's folder once symbolic links are
    /// resolved, unless [`outside_files`](Self::outside_files) allows any path. The error names
    /// the path, never the file's content.
    pub(crate) fn check_inside(&self, path: &Path, named_at: Location) -> Result<()> {
        if self.outside_files {
            return Ok(());
        }
        let root = self.root.as_deref().unwrap_or(Path::new("."));
        let inside = match (root.canonicalize(), path.canonicalize()) {
            (Ok(root), Ok(path)) => path.starts_with(root),
            // A file that does not exist is reported missing by its reader, if it is named
            // without leaving the folder.
            _ => {
                let rest = path.strip_prefix(root).unwrap_or(path);
                rest.is_relative() && rest.components().all(|c| matches!(c, std::path::Component::Normal(_)))
            }
        };
        if inside {
            return Ok(());
        }
        Err(Error::invalid(
            named_at,
            format!(
                "names {}, outside the dataset folder: a dataset reads only its own folder unless you trust it \
                 (--allow-outside-files, or `Dataset::outside_files` in the library)",
                path.display()
            ),
        ))
    }

    /// The same data with its channels in `channels` order (matched by name), e.g. to apply a
    /// checkpoint trained on another column order. Missing or extra channels are an error that
    /// lists both sets.
    pub(crate) fn with_channel_order(&self, channels: &[String]) -> Result<Dataset> {
        let mine = self.meta.channels();
        if mine == channels {
            return Ok(self.clone());
        }
        let mut a: Vec<&String> = mine.iter().collect();
        let mut b: Vec<&String> = channels.iter().collect();
        a.sort();
        b.sort();
        if a != b {
            return Err(Error::Mismatch(format!(
                "the dataset's channels differ from the model's:\n  dataset ({}): {}\n  model   ({}): {}",
                mine.len(),
                crate::error::list(&mine),
                channels.len(),
                crate::error::list(channels)
            )));
        }
        let order: Vec<usize> = channels.iter().map(|c| mine.iter().position(|m| m == c).unwrap()).collect();
        let mut out = self.clone();
        for e in &mut out.episodes {
            e.states = e.states.chunks_exact(e.dim).flat_map(|row| order.iter().map(move |&i| row[i])).collect();
        }
        // Roles follow the model's order: rebuild the name lists in that order.
        let role_of = |c: &String| {
            if self.meta.joints.contains(c) {
                ChannelRole::Joint
            } else if self.meta.gripper.contains(c) {
                ChannelRole::Gripper
            } else {
                ChannelRole::Auxiliary
            }
        };
        let pick = |role| channels.iter().filter(|c| role_of(c) == role).cloned().collect::<Vec<_>>();
        out.meta.joints = pick(ChannelRole::Joint);
        out.meta.gripper = pick(ChannelRole::Gripper);
        out.meta.auxiliary = pick(ChannelRole::Auxiliary);
        if out.meta.channels() != channels {
            return Err(Error::Mismatch(format!(
                "the model's channel order ({}) puts joints, gripper and auxiliary channels in another order than \
                 the dataset's roles allow",
                crate::error::list(channels)
            )));
        }
        Ok(out)
    }

    /// The same data with its command channels in `commands` order (matched by name). Missing
    /// commands are an error that lists both sets; commands the model does not read are dropped.
    pub(crate) fn with_command_order(&self, commands: &[String]) -> Result<Dataset> {
        let mine = self.meta.command_names();
        if mine == commands {
            return Ok(self.clone());
        }
        let missing: Vec<&String> = commands.iter().filter(|c| !mine.contains(c)).collect();
        if !missing.is_empty() {
            return Err(Error::Mismatch(format!(
                "the model reads command channels the dataset does not have ({}):\n  dataset ({}): {}\n  model   ({}): {}",
                crate::error::list(&missing),
                mine.len(),
                crate::error::list(&mine),
                commands.len(),
                crate::error::list(commands)
            )));
        }
        let order: Vec<usize> = commands.iter().map(|c| mine.iter().position(|m| m == c).unwrap()).collect();
        let m = mine.len();
        let mut out = self.clone();
        for e in &mut out.episodes {
            e.commands = e.commands.as_ref().map(|u| {
                u.chunks_exact(m.max(1)).flat_map(|row| order.iter().map(move |&i| row[i])).collect::<Vec<f32>>()
            });
            if commands.is_empty() {
                e.commands = None;
            }
        }
        out.meta.commands = order.iter().map(|&i| self.meta.commands[i].clone()).collect();
        Ok(out)
    }
}
