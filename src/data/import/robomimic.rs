//! robomimic HDF5 demonstrations: `data/demo_N/obs/<robot>_joint_pos` (or the
//! `_joint_pos_cos`/`_joint_pos_sin` pair, through atan2) and `<robot>_gripper_qpos`; no
//! timestamps, so frames are `1/rate` apart (the rate from `env_args.env_kwargs.control_freq` or
//! the mapping); `mask/train` and `mask/valid` become the dataset's declared split; the demos'
//! `model_file` attribute (the scene's MJCF) names the joints and gives `robot.xml`. The helpers
//! at the end are shared with [`super::robosuite`].

use std::path::{Path, PathBuf};

use super::hdf5::{H5, Matrix};
use super::mjcf_scene;
use super::{
    ImportReport, Imported, Mapping, Roles, assign_roles, dataset_name, drop_duplicate_frames, round_significant,
};
use crate::data::dataset::{Dataset, DatasetMeta, DeclaredSplit, Episode, RobotDescriptionRef, Units};
use crate::error::{Error, Location, Result};

/// Imports a robomimic HDF5 file: one episode per `data/demo_N`; `mask/train` and `mask/valid`
/// become the declared split.
pub(crate) fn import_robomimic(source: &Path, mapping: &Mapping) -> Result<Imported> {
    robomimic_from_h5(&H5::open(source)?, mapping)
}

/// As `import_robomimic`, from the file's bytes (`path` names it in messages).
pub fn robomimic_from_bytes(path: &Path, bytes: Vec<u8>, mapping: &Mapping) -> Result<Imported> {
    robomimic_from_h5(&H5::from_bytes(path, bytes)?, mapping)
}

/// The demo groups of `data`, in numeric order (`demo_2` before `demo_10`).
pub(super) fn demos(h5: &H5) -> Result<Vec<String>> {
    let mut demos = h5.groups("data")?;
    demos.sort_by_key(|d| (d.rsplit('_').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(u64::MAX), d.clone()));
    if demos.is_empty() {
        return Err(Error::invalid(h5.at("data"), "holds no demonstration group"));
    }
    Ok(demos)
}

fn robomimic_from_h5(h5: &H5, mapping: &Mapping) -> Result<Imported> {
    let prefix = mapping.robot_prefix.as_deref().unwrap_or("robot0");
    let demos = demos(h5)?;
    let env_args: Option<serde_json::Value> =
        h5.attr_string("data", "env_args").and_then(|s| serde_json::from_str(&s).ok());
    let mut notes = Vec::new();

    // Joint and gripper matrices of every demo, checked for consistent widths.
    let mut read = Vec::with_capacity(demos.len());
    for demo in &demos {
        let obs = format!("data/{demo}/obs");
        let joints = joint_positions(h5, &obs, prefix)?;
        let gripper_path = format!("{obs}/{prefix}_gripper_qpos");
        let gripper = if h5.exists(&gripper_path) { Some(h5.matrix(&gripper_path)?) } else { None };
        if let Some(g) = &gripper
            && g.rows != joints.rows
        {
            return Err(Error::invalid(
                h5.at(&gripper_path),
                format!("{} rows where {prefix}_joint_pos has {}", g.rows, joints.rows),
            ));
        }
        if let Some((first, _, first_gripper)) = read.first() {
            let first: &Matrix = first;
            let first_gripper: &Option<Matrix> = first_gripper;
            let widths = (first.cols, first_gripper.as_ref().map(|g| g.cols));
            if (joints.cols, gripper.as_ref().map(|g| g.cols)) != widths {
                return Err(Error::invalid(
                    h5.at(&obs),
                    format!("joint/gripper widths differ from the first demonstration's {widths:?}"),
                ));
            }
        }
        read.push((joints, demo.clone(), gripper));
    }
    let (n_joints, n_gripper) = (read[0].0.cols, read[0].2.as_ref().map_or(0, |g| g.cols));
    if n_gripper == 0 {
        notes.push(format!("no {prefix}_gripper_qpos: the dataset has no gripper channel"));
    }

    // Names from the scene the demos were recorded in, when it is there and agrees.
    let model_xml = h5.attr_string(&format!("data/{}", demos[0]), "model_file");
    let scene = model_xml.as_deref().and_then(|x| roxmltree::Document::parse(x).ok());
    let model_at = h5.at(&format!("data/{}", demos[0])).column("model_file");
    let named = scene.as_ref().and_then(|doc| scene_names(doc, prefix, n_joints, n_gripper, &model_at));
    let entries: Vec<String> = match &named {
        Some((j, g)) => j.iter().chain(g).cloned().collect(),
        None => {
            notes.push(format!(
                "joint names not found in the demos' model_file: channels are named {prefix}_joint_pos_<i>"
            ));
            (0..n_joints)
                .map(|i| format!("{prefix}_joint_pos_{i}"))
                .chain((0..n_gripper).map(|i| format!("{prefix}_gripper_qpos_{i}")))
                .collect()
        }
    };
    let roles = assign_roles(&entries, mapping, &h5.at("data"))?;
    let order = roles.order();

    let control_freq = env_args.as_ref().and_then(|a| a.pointer("/env_kwargs/control_freq")).and_then(|f| f.as_f64());
    let rate = mapping.rate_hz.or(control_freq).ok_or_else(|| {
        Error::invalid(
            h5.at("data").column("env_args"),
            "robomimic demonstrations have no timestamps and env_args gives no control_freq: pass --rate",
        )
    })?;
    if !(rate.is_finite() && rate > 0.0) {
        return Err(Error::option("--rate", format!("must be a positive number of Hz, got {rate}")));
    }

    let mut episodes = Vec::with_capacity(read.len());
    let mut dropped = 0;
    let mut n_actions: Option<usize> = None;
    for (joints, demo, gripper) in read {
        let dim = order.len();
        let mut states = Vec::with_capacity(joints.rows * dim);
        for r in 0..joints.rows {
            for &i in &order {
                let v = if i < n_joints {
                    joints.row(r)[i]
                } else {
                    gripper.as_ref().expect("width checked").row(r)[i - n_joints]
                };
                states.push(value(v, mapping));
            }
        }
        let mut time: Vec<f64> = (0..joints.rows).map(|r| r as f64 / rate).collect();
        let mut commands = commands_of(h5, &demo, joints.rows, mapping, &mut n_actions, &mut notes)?;
        if mapping.drop_duplicates {
            dropped += drop_duplicate_frames(&mut time, &mut states, dim, commands.as_mut());
        }
        let source = PathBuf::from(format!("{}:/data/{demo}", h5.path().display()));
        let mut episode = Episode::new(demo.clone(), source, time, states, dim);
        episode.commands = commands.take();
        episodes.push(episode);
    }

    let split = declared_split(h5, &demos)?;
    let robot = mapping.robot.clone().unwrap_or_else(|| {
        env_args
            .as_ref()
            .and_then(|a| a.pointer("/env_kwargs/robots/0").or_else(|| a.pointer("/env_kwargs/robots")))
            .and_then(|r| r.as_str())
            .map(str::to_lowercase)
            .unwrap_or_else(|| "unknown".into())
    });
    let mut meta = DatasetMeta::new(
        &dataset_name(mapping, h5.path()),
        &robot,
        rate,
        Roles::names(&entries, &roles.joints),
        Roles::names(&entries, &roles.gripper),
    );
    meta.auxiliary = Roles::names(&entries, &roles.auxiliary);
    if let Some(n) = n_actions {
        // robomimic's actions are the controller's inputs (for the default OSC controller, an
        // end-effector displacement and rotation and a gripper command), not joint targets.
        let names: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        meta.commands = super::command_channels("action", &names, &[]);
    }
    meta.units = units(mapping);
    meta.split = split.clone();
    meta.license = mapping.license.clone();
    meta.provenance = Some(serde_json::json!({
        "imported_by": "trajrnn import robomimic",
        "source": h5.path().display().to_string(),
        "env_args": env_args,
    }));
    let mut files = Vec::new();
    if let (Some(doc), Some(_)) = (&scene, &named) {
        let robot_joints: Vec<String> = entries.clone();
        if let Ok(sub) = mjcf_scene::robot_subtree(doc, &robot_joints, &robot, &model_at) {
            match mjcf_scene::end_effector(&sub.sites, mapping.end_effector.as_deref(), &model_at)? {
                Some(ee) => {
                    meta.robot_description = Some(RobotDescriptionRef::mjcf("robot.xml", &ee));
                    files.push(("robot.xml".to_string(), sub.xml.into_bytes()));
                }
                None => notes.push("no end-effector site (*grip_site) in the model: no robot.xml written".into()),
            }
        }
    }
    let dataset = Dataset::new(meta, episodes, h5.path())?;
    Ok(finish("robomimic", h5.path(), dataset, &entries, &roles, dropped, notes, files))
}

/// `<prefix>_joint_pos`, or the angle from the `_cos`/`_sin` pair.
fn joint_positions(h5: &H5, obs: &str, prefix: &str) -> Result<Matrix> {
    let direct = format!("{obs}/{prefix}_joint_pos");
    if h5.exists(&direct) {
        return h5.matrix(&direct);
    }
    let (cos_path, sin_path) = (format!("{direct}_cos"), format!("{direct}_sin"));
    if !(h5.exists(&cos_path) && h5.exists(&sin_path)) {
        return Err(Error::invalid(
            h5.at(obs),
            format!("no {prefix}_joint_pos, nor the {prefix}_joint_pos_cos / _sin pair"),
        ));
    }
    let (cos, sin) = (h5.matrix(&cos_path)?, h5.matrix(&sin_path)?);
    if (cos.rows, cos.cols) != (sin.rows, sin.cols) {
        return Err(Error::invalid(
            h5.at(&sin_path),
            format!("shape [{}, {}] differs from _cos's [{}, {}]", sin.rows, sin.cols, cos.rows, cos.cols),
        ));
    }
    let values = sin.values.iter().zip(&cos.values).map(|(s, c)| s.atan2(*c)).collect();
    Ok(Matrix { values, rows: cos.rows, cols: cos.cols })
}

/// Arm and gripper joint names from the scene: hinge joints named `<prefix>_*` and the gripper
/// joints (names with gripper/finger) of the matching gripper, when their counts match the
/// observation widths.
fn scene_names(
    doc: &roxmltree::Document,
    prefix: &str,
    n_joints: usize,
    n_gripper: usize,
    at: &Location,
) -> Option<(Vec<String>, Vec<String>)> {
    let (joints, _, _) = mjcf_scene::joints(doc, at).ok()?;
    let arm: Vec<String> = joints
        .iter()
        .filter(|j| j.kind == "hinge" && j.name.starts_with(&format!("{prefix}_")) && !super::is_gripper_name(&j.name))
        .map(|j| j.name.clone())
        .collect();
    // robosuite names robot i's gripper `gripper<i>_…`.
    let gripper_prefix = prefix.replace("robot", "gripper");
    let gripper: Vec<String> = joints
        .iter()
        .filter(|j| j.is_scalar() && (j.name.starts_with(&gripper_prefix) || j.name.starts_with(&format!("{prefix}_"))))
        .filter(|j| super::is_gripper_name(&j.name))
        .map(|j| j.name.clone())
        .collect();
    (arm.len() == n_joints && gripper.len() == n_gripper).then_some((arm, gripper))
}

/// `mask/train` and `mask/valid`, checked against the demos.
/// A demonstration's `actions` as row-major commands (one row per frame), unless commands are
/// not wanted or there are none. Every demonstration must have as many as the first
/// (`width` remembers it); actions that do not count one per frame are an error.
pub(super) fn commands_of(
    h5: &H5,
    demo: &str,
    frames: usize,
    mapping: &Mapping,
    width: &mut Option<usize>,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<f32>>> {
    let path = format!("data/{demo}/actions");
    if mapping.no_commands {
        return Ok(None);
    }
    if !h5.exists(&path) {
        if width.is_some() {
            return Err(Error::invalid(
                h5.at(&format!("data/{demo}")),
                "no actions where other demonstrations have them",
            ));
        }
        return Ok(None);
    }
    let actions = h5.matrix(&path)?;
    if actions.rows != frames {
        return Err(Error::invalid(
            h5.at(&path),
            format!(
                "{} actions for {frames} frames (one per frame expected; --no-commands leaves them out)",
                actions.rows
            ),
        ));
    }
    if width.is_some_and(|w| w != actions.cols) {
        return Err(Error::invalid(
            h5.at(&path),
            format!("{} columns where the first demonstration's actions have {}", actions.cols, width.unwrap_or(0)),
        ));
    }
    if let Some(i) = actions.values.iter().position(|v| !v.is_finite() || v.abs() > f32::MAX as f64) {
        return Err(Error::invalid(
            h5.at(&path).row((i / actions.cols.max(1)) as u64).column(format!("actions[{}]", i % actions.cols.max(1))),
            format!("value {} is not a finite 32-bit float", actions.values[i]),
        ));
    }
    if width.is_none() {
        notes.push(format!(
            "commands: the demonstrations' `actions` ({} per frame) are kept as command channels",
            actions.cols
        ));
    }
    *width = Some(actions.cols);
    Ok(Some(actions.values.iter().map(|&v| v as f32).collect()))
}

fn declared_split(h5: &H5, demos: &[String]) -> Result<Option<DeclaredSplit>> {
    if !h5.exists("mask/train") {
        return Ok(None);
    }
    let read = |key: &str| -> Result<Vec<String>> {
        let object = format!("mask/{key}");
        if !h5.exists(&object) {
            return Ok(vec![]);
        }
        let names = h5.strings(&object)?;
        for (row, name) in names.iter().enumerate() {
            if !demos.contains(name) {
                return Err(Error::invalid(
                    h5.at(&object).row(row as u64),
                    format!("names \"{name}\", which is not a group of /data"),
                ));
            }
        }
        Ok(names)
    };
    Ok(Some(DeclaredSplit { train: read("train")?, valid: read("valid")?, test: None }))
}

/// A source value as stored: rounded to the mapping's significant digits, else to f32.
pub(super) fn value(v: f64, mapping: &Mapping) -> f32 {
    match mapping.significant_digits {
        Some(d) if v.is_finite() => round_significant(v, d),
        _ => v as f32,
    }
}

pub(super) fn units(mapping: &Mapping) -> Units {
    Units {
        joints: mapping.angle_unit.unwrap_or_default(),
        gripper: mapping.gripper_unit.clone().or_else(|| Some("m".into())),
        auxiliary: None,
        time: Default::default(),
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn finish(
    format: &str,
    source: &Path,
    dataset: Dataset,
    entries: &[String],
    roles: &Roles,
    dropped: usize,
    mut notes: Vec<String>,
    files: Vec<(String, Vec<u8>)>,
) -> Imported {
    notes.extend(dataset.warnings.iter().cloned());
    let report =
        ImportReport::of(format.into(), source, &dataset, Roles::names(entries, &roles.ignored), dropped, notes);
    Imported { dataset, report, files }
}
