//! Checkpoints: one file holding everything inference needs (model configuration, encoding,
//! channels), the baselines and split it was trained with, and the weights; `last.ckpt` of a run
//! adds the optimiser and the training state to resume from. Written atomically.
//!
//! Layout (little-endian), version 4: the 8-byte magic `TRAJRNN2`, a u64 length `n`, `n` bytes of
//! JSON ([`CheckpointMeta`], whose `sections` give the sizes of what follows), the u64 FNV-1a
//! checksum of those `n` bytes, then the sections in order: the weights as a burnpack record
//! (burn's format) and, optionally, the optimiser state (burnpack), each with its checksum in the
//! header. Versions 1–3 (magic `TRAJRNN1`, no header checksum) still load: their headers are
//! migrated to version 4 on reading. Every size and shape in the header is checked against the
//! file and the model before anything is allocated, and weights must be finite.

use std::io::Write;
use std::ops::Range;
use std::path::Path;

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::baselines::{BaselineConfig, Baselines};
use crate::data::split::{Part, Split, SplitConfig, SplitKind};
use crate::data::{ChannelRole, Dataset, WindowSpec};
use crate::encoding::Encoding;
use crate::error::{Error, Location, Result, parser_message, quote};
use crate::eval::{BaselineChoice, EvalConfig};
use crate::limits::MAX_COUNT;
use crate::model::{ModelConfig, TrajectoryModel};
use crate::train::{TrainConfig, TrainingState};

const MAGIC_V1: &[u8; 8] = b"TRAJRNN1";
const MAGIC: &[u8; 8] = b"TRAJRNN2";
/// Version of the header layout. Checkpoints written by this version keep loading in later
/// ones (fixtures under `tests/fixtures/` check it).
pub const CHECKPOINT_VERSION: u32 = 4;
/// Largest JSON header accepted (a real one is tens of kilobytes).
const MAX_HEADER: u64 = 16 << 20;
/// Bytes a burnpack record may hold beyond its f32 values (names, shapes, alignment).
const MAX_RECORD_OVERHEAD: usize = 1 << 20;

/// What the data looked like, so a checkpoint is only applied to matching data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataInfo {
    /// The training dataset's name (`name` in its `dataset.json`), shown in reports.
    pub dataset: String,
    /// Robot identifier of the training data, e.g. `panda`.
    pub robot: String,
    /// Channel names in model order.
    pub channels: Vec<String>,
    /// What each channel is (scored as a joint, a gripper, or not scored).
    pub roles: Vec<ChannelRole>,
    /// Frame rate of the training data, Hz (the model predicts one frame at a time at this rate).
    pub rate_hz: f64,
    /// Irregular episodes were resampled onto `rate_hz` before training (and are before
    /// evaluation): see [`crate::data::resample::resample_irregular`].
    #[serde(default)]
    pub resample: bool,
    /// The command channels the data had (the model reads them when its encoding says so).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
}

impl DataInfo {
    /// The description of `dataset` as trained on; `resample` records whether irregular episodes
    /// were resampled onto its rate.
    pub fn of(dataset: &Dataset, resample: bool) -> Self {
        let meta = &dataset.meta;
        Self {
            dataset: meta.name.clone(),
            robot: meta.robot.clone(),
            channels: meta.channels(),
            roles: meta.roles(),
            rate_hz: meta.rate_hz,
            resample,
            commands: meta.command_names(),
        }
    }

    /// The dataset with its channels and commands in this checkpoint's order, or an error
    /// listing both sets (a checkpoint trained with commands refuses data without them).
    /// (Resampling is separate: [`DataInfo::prepare`].)
    pub fn matching(&self, dataset: &Dataset) -> Result<Dataset> {
        let ordered = dataset.with_channel_order(&self.channels)?.with_command_order(&self.commands)?;
        if ordered.meta.roles() != self.roles {
            let joints: Vec<&String> = self
                .channels
                .iter()
                .zip(&self.roles)
                .filter(|(_, r)| **r == ChannelRole::Joint)
                .map(|(c, _)| c)
                .collect();
            return Err(Error::Mismatch(format!(
                "the channels have other roles in the dataset than in the model (joints: model [{}], dataset [{}])",
                crate::error::list(&joints),
                crate::error::list(&ordered.meta.joints)
            )));
        }
        Ok(ordered)
    }

    /// Data in this checkpoint's channel order, resampled as training was: what the model and
    /// the split's frame ranges refer to. Warns (in the returned list) when the rates differ.
    pub fn prepare(&self, dataset: &Dataset) -> Result<(Dataset, Vec<String>)> {
        let ordered = self.matching(dataset)?;
        let mut warnings = vec![];
        let ordered = if self.resample { crate::data::resample::resample_irregular(&ordered)? } else { ordered };
        if (ordered.meta.rate_hz - self.rate_hz).abs() > 1e-6 * self.rate_hz {
            warnings.push(format!(
                "the model was trained at {} Hz and the dataset is {} Hz; predictions are per frame",
                self.rate_hz, ordered.meta.rate_hz
            ));
        }
        Ok((ordered, warnings))
    }
}

/// One segment of a split, recorded by the content of its episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentRecord {
    /// The part (train, validation or test) the frames went to.
    pub part: Part,
    /// The episode's name when training ran (informative: episodes are recognised by content).
    pub episode: String,
    /// [`crate::data::fingerprint::episode`] of the episode as given to training (channels in the model's
    /// order, before resampling), as 16 hex digits.
    pub fingerprint: String,
    /// Frames of the (possibly resampled) episode in this part.
    pub frames: Range<usize>,
}

/// How the training data was split, by content: which episode (by fingerprint) and which of its
/// frames went to each part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitRecord {
    /// The split settings of the run (`data.split`).
    pub config: SplitConfig,
    /// `None` in checkpoints older than version 4, which recorded no split content.
    pub kind: Option<SplitKind>,
    /// Every segment of every part, train first, then validation, then test.
    pub segments: Vec<SegmentRecord>,
}

impl SplitRecord {
    /// The record of `split` of `dataset`, whose episodes had `fingerprints` when given to
    /// training.
    pub fn of(config: &SplitConfig, split: &Split, dataset: &Dataset, fingerprints: &[u64]) -> Self {
        let segments = Part::ALL
            .iter()
            .flat_map(|&part| {
                split.part(part).iter().map(move |s| SegmentRecord {
                    part,
                    episode: dataset.episodes[s.episode].name.clone(),
                    fingerprint: format!("{:016x}", fingerprints[s.episode]),
                    frames: s.frames.clone(),
                })
            })
            .collect();
        Self { config: config.clone(), kind: Some(split.kind), segments }
    }

    /// The recorded segments of the episode with this fingerprint.
    pub(crate) fn of_episode(&self, fingerprint: u64) -> impl Iterator<Item = &SegmentRecord> {
        let hex = format!("{fingerprint:016x}");
        self.segments.iter().filter(move |s| s.fingerprint == hex)
    }
}

/// A section of the file after the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// What the section holds: `weights` (always first) or `optimizer`.
    pub name: String,
    /// Length of the section in bytes.
    pub bytes: u64,
    /// [`checksum`] of the section (version 3 on): a damaged weight that is still a finite
    /// number would otherwise load silently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fnv1a64: Option<u64>,
}

/// FNV-1a (64 bit) of `bytes`: detects accidental damage (not tampering), at memory speed.
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The JSON header of a checkpoint: everything but the weights and the optimiser state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    /// Layout version the file was written with (1..=[`CHECKPOINT_VERSION`]; [`save`] always
    /// writes the current one).
    pub checkpoint_version: u32,
    /// Version of the trajrnn crate that wrote the file (informative).
    pub trajrnn_version: String,
    /// Shape of the network the weights belong to.
    pub model: ModelConfig,
    /// How states are turned into the model's inputs and its outputs back into states.
    pub encoding: Encoding,
    /// The data the model was trained on, so it is only applied to matching data.
    pub data: DataInfo,
    /// Length (`context`) and spacing (`stride`) of the training windows, in frames.
    pub window: WindowSpec,
    /// Which episodes and frames went to each part, by content.
    pub split: SplitRecord,
    /// The training settings of the run (a resumed run must use the same).
    pub train: TrainConfig,
    /// How the learned baselines were fitted, and the fits (on the same training part as the
    /// model), so evaluations on other data compare against baselines that learned from what the
    /// model learned from.
    pub baseline_config: BaselineConfig,
    /// The fitted baselines (the same fits the encoding's base uses).
    pub baselines: Baselines,
    /// The baseline each horizon is compared with, chosen on the validation part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<BaselineChoice>,
    /// How the run evaluated the model (`trajrnn eval` starts from these settings).
    pub eval: EvalConfig,
    /// Epoch (1-based) whose weights these are (0: not trained), and its validation score.
    pub epoch: usize,
    /// The validation score of `epoch` (lower is better; `None` when no epoch has been scored).
    pub valid_score: Option<f64>,
    /// Where the run stood, to resume from (only in `last.ckpt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingState>,
    /// Sizes and checksums of the sections after the header, in file order (filled in by [`save`]).
    pub sections: Vec<Section>,
}

impl CheckpointMeta {
    /// Checks that the parts agree: sizes in range, the encoding and channels fit the model (and
    /// builds the encoding's maps).
    pub fn validate(&mut self, path: &Path) -> Result<()> {
        let bad = |field: &str, msg: String| Err(Error::invalid(Location::file(path).column(field), msg));
        if self.checkpoint_version == 0 || self.checkpoint_version > CHECKPOINT_VERSION {
            return bad(
                "checkpoint_version",
                format!(
                    "version {} is not readable by this build (reads 1..={CHECKPOINT_VERSION}); update trajrnn",
                    self.checkpoint_version
                ),
            );
        }
        self.model.validate().map_err(|e| Error::invalid(Location::file(path).column("model"), e.to_string()))?;
        let dim = self.model.output_dim;
        if let Err(e) = self.encoding.validate(dim) {
            return bad("encoding", e);
        }
        if self.encoding.input_dim() != self.model.input_dim {
            return bad(
                "encoding",
                format!("gives {} inputs, the model reads {}", self.encoding.input_dim(), self.model.input_dim),
            );
        }
        if self.data.channels.len() != dim || self.data.roles.len() != dim {
            return bad(
                "data",
                format!(
                    "{} channel names and {} roles for a model of {dim} outputs",
                    self.data.channels.len(),
                    self.data.roles.len()
                ),
            );
        }
        if !self.data.roles.contains(&ChannelRole::Joint) {
            return bad("data", "no channel is an arm joint".into());
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(c) = self.data.channels.iter().find(|c| !seen.insert(c.as_str())) {
            return bad("data", format!("channel {} is listed twice", crate::error::quote(c)));
        }
        if !(self.data.rate_hz.is_finite() && self.data.rate_hz > 0.0) {
            return bad("data", format!("rate_hz must be positive, got {}", self.data.rate_hz));
        }
        if !(1..=MAX_COUNT).contains(&self.window.context) {
            return bad("window", format!("context must be in 1..={MAX_COUNT}, got {}", self.window.context));
        }
        // The baselines index their coefficients by these sizes when they are scored.
        if let Err(m) = self.baselines.validate(dim, self.data.commands.len()) {
            return bad("baselines", m);
        }
        if let Some(t) = &self.training {
            t.validate().map_err(|m| Error::invalid(Location::file(path).column("training"), m))?;
        }
        Ok(())
    }
}

/// Writes a checkpoint atomically: an interrupted write leaves the previous file intact.
/// `optimizer` is the optimiser's burnpack bytes, for `last.ckpt`.
pub fn save(path: &Path, model: &TrajectoryModel, meta: &CheckpointMeta, optimizer: Option<&[u8]>) -> Result<()> {
    let weights = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| Error::invalid(Location::file(path), format!("cannot serialise weights: {e:?}")))?;
    let mut meta = meta.clone();
    meta.checkpoint_version = CHECKPOINT_VERSION;
    let section = |name: &str, bytes: &[u8]| Section {
        name: name.into(),
        bytes: bytes.len() as u64,
        fnv1a64: Some(checksum(bytes)),
    };
    meta.sections = vec![section("weights", &weights)];
    meta.sections.extend(optimizer.map(|o| section("optimizer", o)));
    let header = serde_json::to_vec_pretty(&meta).expect("checkpoint metadata serialises");
    crate::io::write_atomic(path, |f| {
        f.write_all(MAGIC)?;
        f.write_all(&(header.len() as u64).to_le_bytes())?;
        f.write_all(&header)?;
        f.write_all(&checksum(&header).to_le_bytes())?;
        f.write_all(&weights)?;
        if let Some(o) = optimizer {
            f.write_all(o)?;
        }
        Ok(())
    })
}

/// A loaded checkpoint.
pub struct Checkpoint {
    /// The network, its weights loaded.
    pub model: TrajectoryModel,
    /// The checkpoint's header, validated.
    pub meta: CheckpointMeta,
    /// The optimiser's burnpack bytes (only in `last.ckpt`).
    pub optimizer: Option<Vec<u8>>,
}

/// Loads a checkpoint onto `device`.
pub fn load(path: &Path, device: &Device) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (meta, sections) = parse(path, &bytes)?;
    let bad = |msg: String| Error::invalid(Location::file(path), msg);
    let weights = sections[0];
    let expected = meta.model.parameter_count() * 4;
    if weights.len() < expected || weights.len() > expected + MAX_RECORD_OVERHEAD {
        return Err(bad(format!(
            "the weights section holds {} bytes where the model configuration needs about {expected}: \
             the header does not describe these weights",
            weights.len()
        )));
    }
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(weights.to_vec()))
        .map_err(|e| bad(format!("corrupt weights: {}", parser_message(format!("{e:?}")))))?;
    let model = meta
        .model
        .init(device, 0)
        .try_load_record(record)
        .map_err(|e| bad(format!("weights do not fit the model configuration: {e:?}")))?;
    if let Some(name) = first_non_finite(&model) {
        return Err(bad(format!("weight tensor `{name}` holds a non-finite value (NaN or infinity)")));
    }
    let optimizer = sections.get(1).map(|s| s.to_vec());
    Ok(Checkpoint { model, meta, optimizer })
}

/// Reads only the header (no weights are decoded).
pub fn load_meta(path: &Path) -> Result<CheckpointMeta> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(parse(path, &bytes)?.0)
}

/// Splits the file into its header and sections, checking every size and checksum against the
/// file.
fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<(CheckpointMeta, Vec<&'a [u8]>)> {
    let bad = |msg: String| Error::invalid(Location::file(path), msg);
    let legacy = bytes.len() >= 8 && &bytes[..8] == MAGIC_V1;
    if bytes.len() < 16 || !(legacy || &bytes[..8] == MAGIC) {
        return Err(bad("not a trajrnn checkpoint (missing TRAJRNN header)".into()));
    }
    let len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let trailer = if legacy { 0 } else { 8 };
    let rest = (bytes.len() - 16) as u64;
    if len > MAX_HEADER || len + trailer > rest {
        return Err(bad(format!("truncated or damaged checkpoint: header length {len} but {rest} bytes follow")));
    }
    let (header, body) = bytes[16..].split_at(len as usize);
    let body = if legacy {
        body
    } else {
        let (sum, body) = body.split_at(8);
        if u64::from_le_bytes(sum.try_into().expect("8 bytes")) != checksum(header) {
            return Err(bad(
                "the header is damaged: its checksum does not match (the file changed after it was written)".into(),
            ));
        }
        body
    };
    let located = |e: serde_json::Error| {
        Error::invalid(Location::file(path).line(e.line() as u64), format!("checkpoint header: {}", parser_message(&e)))
    };
    let value: Value = serde_json::from_slice(header).map_err(located)?;
    let value = migrate(value).map_err(|m| bad(format!("checkpoint header: {m}")))?;
    let mut meta: CheckpointMeta =
        serde_json::from_value(value).map_err(|e| bad(format!("checkpoint header: {}", parser_message(&e))))?;
    if legacy != (meta.checkpoint_version < 4) {
        return Err(bad(format!(
            "checkpoint header: version {} in a file of the other layout",
            meta.checkpoint_version
        )));
    }
    meta.validate(path)?;
    if meta.sections.first().map(|s| s.name.as_str()) != Some("weights") || meta.sections.len() > 2 {
        return Err(bad("checkpoint header: sections must be `weights` and optionally `optimizer`".into()));
    }
    let total = meta.sections.iter().try_fold(0u64, |acc, s| acc.checked_add(s.bytes));
    if total != Some(body.len() as u64) {
        return Err(bad(format!(
            "truncated or damaged checkpoint: the header announces {} bytes of sections, the file holds {}",
            total.map_or("too many".into(), |t| t.to_string()),
            body.len()
        )));
    }
    let mut out = Vec::with_capacity(meta.sections.len());
    let mut at = 0usize;
    for s in &meta.sections {
        let bytes = &body[at..at + s.bytes as usize];
        if meta.checkpoint_version >= 3 && s.fnv1a64.is_none() {
            return Err(bad(format!("checkpoint header: the `{}` section has no checksum", s.name)));
        }
        if s.fnv1a64.is_some_and(|sum| sum != checksum(bytes)) {
            return Err(bad(format!(
                "the `{}` section is damaged: its checksum does not match (the file changed after it was written)",
                s.name
            )));
        }
        out.push(bytes);
        at += s.bytes as usize;
    }
    Ok((meta, out))
}

/// A header of an older version, rewritten as version 4 (the fields that moved or were added
/// since, with the values the older version behaved as).
fn migrate(mut h: Value) -> std::result::Result<Value, String> {
    let version = h.get("checkpoint_version").and_then(Value::as_u64).ok_or("no checkpoint_version")?;
    if version >= 4 {
        return Ok(h);
    }
    let o = h.as_object_mut().ok_or("not an object")?;
    // The linear rules' order and ridge lived in the encoding and the evaluation settings.
    let (ar_order, ar_ridge) = {
        let eval = o.get_mut("eval").and_then(Value::as_object_mut).ok_or("no eval section")?;
        let order = eval.remove("ar_order").unwrap_or(json!(8));
        let ridge = eval.remove("ar_ridge").unwrap_or(json!(1e-3));
        (order, ridge)
    };
    o.insert("baseline_config".into(), json!({"ar_order": ar_order, "ar_ridge": ar_ridge}));
    let baselines = o.remove("baselines").and_then(|b| b.as_array().cloned()).unwrap_or_default();
    let find = |joint: bool| {
        baselines.iter().find(|b| b.get("joint").and_then(Value::as_bool).unwrap_or(true) == joint).cloned()
    };
    match (find(true), find(false)) {
        (Some(linear_ar), Some(channel_ar)) => {
            o.insert("baselines".into(), json!({"linear_ar": linear_ar, "channel_ar": channel_ar}));
        }
        _ => return Err("a version 3 checkpoint must hold both linear baselines".into()),
    }
    {
        let encoding = o.get_mut("encoding").and_then(Value::as_object_mut).ok_or("no encoding section")?;
        let config = encoding.get_mut("config").and_then(Value::as_object_mut).ok_or("no encoding.config")?;
        let order = config.remove("ar_order").and_then(|v| v.as_u64()).unwrap_or(8) as usize;
        config.remove("ar_ridge");
        let velocity = config.get("velocity").and_then(Value::as_bool).unwrap_or(true);
        let acceleration = config.get("acceleration").and_then(Value::as_bool).unwrap_or(true);
        let target = config.get("target").and_then(Value::as_str).unwrap_or("linear_ar").to_string();
        // Version 3 modelled every channel alike, with equal weights and unclamped inputs.
        config.insert("treat_channels".into(), json!(false));
        config.insert("input_clip".into(), json!(f32::MAX));
        let history = match target.as_str() {
            "hold" => 0,
            "constant_velocity" => 1,
            _ => order,
        }
        .max(velocity as usize)
        .max(2 * acceleration as usize);
        let dim = encoding.get("mean").and_then(Value::as_array).map_or(0, Vec::len);
        encoding.insert("history".into(), json!(history));
        encoding.insert("treatments".into(), json!(vec!["modelled"; dim]));
        encoding.insert("loss_weights".into(), json!(vec![1.0; dim]));
    }
    let split = o.remove("split").unwrap_or(json!({}));
    let mode = split.get("mode").cloned().unwrap_or(json!("auto"));
    let gap = split.get("gap").cloned().unwrap_or(json!(64));
    let valid_fraction = split.get("val_fraction").cloned().unwrap_or(json!(0.2));
    o.insert(
        "split".into(),
        json!({"config": {"mode": mode, "valid_fraction": valid_fraction, "gap": gap}, "kind": null, "segments": []}),
    );
    let valid_loss = o.remove("valid_loss").unwrap_or(Value::Null);
    o.insert("valid_score".into(), valid_loss);
    if let Some(training) = o.get_mut("training").and_then(Value::as_object_mut)
        && let Some(history) = training.get_mut("history").and_then(Value::as_array_mut)
    {
        for epoch in history.iter_mut().filter_map(Value::as_object_mut) {
            let loss = epoch.get("valid_loss").cloned().unwrap_or(Value::Null);
            epoch.insert("valid_score".into(), loss);
        }
    }
    Ok(h)
}

/// Checks the optimiser's burnpack before burn decodes it: burn-optim panics on a state tensor
/// without a parameter id or a parameter rank it has no state type for, and takes a tensor of
/// another shape or rank than its parameter, to panic at the first step. Every state tensor
/// must be an f32 tensor of the shape of a parameter of `model`, and every rank it records
/// (burn-optim's `<id>.__rank` scalars) that parameter's rank.
pub(crate) fn check_optimizer_state(bytes: &[u8], model: &TrajectoryModel) -> std::result::Result<(), String> {
    struct Shapes(HashMap<u64, Vec<usize>>);
    impl ModuleVisitor for Shapes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.insert(param.id.val(), param.shape().as_slice().to_vec());
        }
    }
    let mut shapes = Shapes(HashMap::new());
    model.visit(&mut shapes);
    let reader = burn_pack::Reader::from_bytes(burn_pack::Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| crate::error::parser_message(format!("{e:?}")))?;
    for (key, value) in reader.scalars() {
        // burn-optim reads these keys, and ignores them, exactly when both parts parse.
        let Some(id) = key.strip_suffix(".__rank").and_then(|id| id.parse::<u64>().ok()) else { continue };
        let Ok(rank) = usize::try_from(*value) else { continue };
        if shapes.0.get(&id).is_none_or(|shape| shape.len() != rank) {
            return Err(format!("{} records rank {rank}, not that of a parameter of the model", quote(key)));
        }
    }
    let tensors = reader.into_tensors().map_err(|e| crate::error::parser_message(format!("{e:?}")))?;
    for t in tensors {
        let name = quote(&t.name);
        let Some(shape) = t.param_id.and_then(|id| shapes.0.get(&id)) else {
            return Err(format!("tensor {name} belongs to no parameter of the model"));
        };
        let expected = shape.iter().product::<usize>() * 4;
        if t.dtype != burn_pack::DType::F32 || t.shape.as_slice() != shape || t.byte_len() != expected {
            return Err(format!("tensor {name} has shape {:?}, its parameter {shape:?}", t.shape.as_slice()));
        }
    }
    Ok(())
}

/// The name of the first parameter tensor holding NaN or infinity.
fn first_non_finite(model: &TrajectoryModel) -> Option<String> {
    struct Finder {
        index: usize,
        found: Option<String>,
    }
    impl ModuleVisitor for Finder {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.found.is_none() {
                let values = param.val().into_data().convert::<f32>();
                if values.as_slice::<f32>().map_or(true, |v| v.iter().any(|x| !x.is_finite())) {
                    self.found = Some(format!("parameter {} {:?}", self.index, param.shape().dims::<D>()));
                }
            }
            self.index += 1;
        }
    }
    let mut finder = Finder { index: 0, found: None };
    model.visit(&mut finder);
    finder.found
}
