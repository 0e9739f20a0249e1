//! robomimic and robosuite HDF5 demonstrations.
//!
//! - robomimic (`import_robomimic`): `data/demo_N/obs/<robot>_joint_pos` (or the
//!   `_joint_pos_cos`/`_joint_pos_sin` pair, through atan2) and `<robot>_gripper_qpos`; no
//!   timestamps, so frames are `1/rate` apart (the rate from `env_args.env_kwargs.control_freq`
//!   or the mapping); `mask/train` and `mask/valid` become the dataset's declared split; the
//!   demo's `model_file` attribute (the scene's MJCF) names the joints and gives `robot.xml`.
//! - robosuite (`import_robosuite`): a folder with `demo.hdf5` whose `data/demo_N/states` rows are
//!   `[time, qpos, qvel]` of the scene `models/<model_file>`; the scene's hinge and slide joints
//!   are the candidate channels, its robot subtree becomes `robot.xml`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::hdf5::{H5, Matrix};
use super::mjcf_scene::{self, SceneJoint};
use super::{
    ImportReport, Imported, Mapping, Roles, assign_roles, dataset_name, drop_duplicate_frames, rate_from_steps,
    round_decimals, round_significant,
};
use crate::data::dataset::{Dataset, DatasetMeta, DeclaredSplit, Episode, RobotDescriptionRef, Units};
use crate::error::{Error, Location, Result};

pub fn import_robomimic(source: &Path, mapping: &Mapping) -> Result<Imported> {
    robomimic_from_h5(&H5::open(source)?, mapping)
}

/// As [`import_robomimic`], from the file's bytes (`path` names it in messages).
pub fn robomimic_from_bytes(path: &Path, bytes: Vec<u8>, mapping: &Mapping) -> Result<Imported> {
    robomimic_from_h5(&H5::from_bytes(path, bytes)?, mapping)
}

/// The demo groups of `data`, in numeric order (`demo_2` before `demo_10`).
fn demos(h5: &H5) -> Result<Vec<String>> {
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
        if mapping.drop_duplicates {
            dropped += drop_duplicate_frames(&mut time, &mut states, dim);
        }
        let source = PathBuf::from(format!("{}:/data/{demo}", h5.path().display()));
        episodes.push(Episode::new(demo, source, time, states, dim));
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
    Ok(Some(DeclaredSplit { train: read("train")?, valid: read("valid")? }))
}

/// A robosuite demonstration folder: `demo.hdf5` and the scene files under `models/`. `source`
/// may also be the `demo.hdf5` itself.
pub fn import_robosuite(source: &Path, mapping: &Mapping) -> Result<Imported> {
    let (file, folder) = if source.is_dir() {
        (source.join("demo.hdf5"), source.to_path_buf())
    } else {
        (source.to_path_buf(), source.parent().unwrap_or(Path::new(".")).to_path_buf())
    };
    let h5 = H5::open(&file)?;
    let models = |name: &str| std::fs::read_to_string(folder.join("models").join(name)).ok();
    robosuite_from_h5(&h5, &models, &dataset_name(mapping, source), mapping)
}

/// As [`import_robosuite`], from the HDF5 file's bytes; `models` gives a scene file's text by
/// the name a demo's `model_file` attribute holds.
pub fn robosuite_from_bytes(
    path: &Path,
    bytes: Vec<u8>,
    models: &dyn Fn(&str) -> Option<String>,
    mapping: &Mapping,
) -> Result<Imported> {
    let h5 = H5::from_bytes(path, bytes)?;
    robosuite_from_h5(&h5, models, &dataset_name(mapping, path), mapping)
}

fn robosuite_from_h5(
    h5: &H5,
    models: &dyn Fn(&str) -> Option<String>,
    name: &str,
    mapping: &Mapping,
) -> Result<Imported> {
    let demos = demos(h5)?;
    let mut notes = Vec::new();
    // Each demo's scene, by the file name in its model_file attribute; a demo whose file is
    // missing uses the first demo's scene (robosuite ships only model_1.xml for some tasks).
    let mut texts: HashMap<String, String> = HashMap::new();
    let mut first_model: Option<String> = None;
    let mut demo_model = Vec::with_capacity(demos.len());
    for demo in &demos {
        let group = format!("data/{demo}");
        let file = h5.attr_string(&group, "model_file").ok_or_else(|| {
            Error::invalid(h5.at(&group).column("model_file"), "no model_file attribute naming the scene")
        })?;
        if !texts.contains_key(&file)
            && let Some(text) = models(&file)
        {
            texts.insert(file.clone(), text);
        }
        let used = if texts.contains_key(&file) {
            file
        } else if let Some(first) = &first_model {
            notes.push(format!("{demo}: models/{file} is missing; used {first} (the first demo's scene)"));
            first.clone()
        } else {
            return Err(Error::invalid(
                h5.at(&group).column("model_file"),
                format!("the scene models/{file} is missing beside the HDF5 file"),
            ));
        };
        first_model.get_or_insert(used.clone());
        demo_model.push(used);
    }
    let mut layouts: HashMap<&str, (Vec<SceneJoint>, usize, usize)> = HashMap::new();
    for (file, text) in &texts {
        let at = Location::file(format!("models/{file}"));
        let doc = roxmltree::Document::parse(text)
            .map_err(|e| Error::invalid(at.clone().line(e.pos().row as u64), format!("not valid XML: {e}")))?;
        layouts.insert(file, mjcf_scene::joints(&doc, &at)?);
    }
    let first = first_model.expect("at least one demo");
    let (scene_joints, _, _) = &layouts[first.as_str()];
    let entries: Vec<String> = scene_joints.iter().filter(|j| j.is_scalar()).map(|j| j.name.clone()).collect();
    let roles = assign_roles(&entries, mapping, &Location::file(format!("models/{first}")))?;
    let order = roles.order();
    let channel_names = Roles::names(&entries, &order);

    let mut episodes = Vec::with_capacity(demos.len());
    let mut provenance = Vec::new();
    let mut dropped = 0;
    for (i, (demo, model)) in demos.iter().zip(&demo_model).enumerate() {
        let object = format!("data/{demo}/states");
        let (joints, nq, nv) = &layouts[model.as_str()];
        let states = h5.matrix(&object)?;
        if states.cols != 1 + nq + nv {
            return Err(Error::invalid(
                h5.at(&object),
                format!(
                    "rows have {} values; the scene models/{model} gives 1 + {nq} (qpos) + {nv} (qvel)",
                    states.cols
                ),
            ));
        }
        let cols: Vec<usize> = channel_names
            .iter()
            .map(|n| {
                joints.iter().find(|j| &j.name == n).map(|j| 1 + j.qpos).ok_or_else(|| {
                    Error::invalid(
                        Location::file(format!("models/{model}")).column(n.clone()),
                        "joint missing from this scene",
                    )
                })
            })
            .collect::<Result<_>>()?;
        let dim = cols.len();
        let mut time = Vec::with_capacity(states.rows);
        let mut values = Vec::with_capacity(states.rows * dim);
        for r in 0..states.rows {
            let row = states.row(r);
            time.push(mapping.time_decimals.map_or(row[0], |d| round_decimals(row[0], d)));
            values.extend(cols.iter().map(|&c| value(row[c], mapping)));
        }
        if mapping.drop_duplicates {
            dropped += drop_duplicate_frames(&mut time, &mut values, dim);
        }
        let file_name = h5.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // Named by position, as tools/convert_robosuite.py named them (the bundled folders).
        let episode = format!("episode_{i:03}");
        provenance.push(serde_json::json!({
            "episode": episode, "source": format!("{file_name}:data/{demo}"), "frames": time.len(),
        }));
        let source = PathBuf::from(format!("{}:/data/{demo}", h5.path().display()));
        episodes.push(Episode::new(episode, source, time, values, dim));
    }

    let rate = match mapping.rate_hz {
        Some(r) => r,
        None => rate_from_steps(episodes.iter().map(|e| e.time.as_slice())).ok_or_else(|| {
            Error::invalid(h5.at("data"), "cannot measure a rate (no demo has two frames); pass --rate")
        })?,
    };
    let robot = mapping.robot.clone().unwrap_or_else(|| "unknown".into());
    let mut meta = DatasetMeta::new(
        name,
        &robot,
        rate,
        Roles::names(&entries, &roles.joints),
        Roles::names(&entries, &roles.gripper),
    );
    meta.auxiliary = Roles::names(&entries, &roles.auxiliary);
    meta.units = units(mapping);
    meta.license = mapping.license.clone();
    let text = &texts[first.as_str()];
    let doc = roxmltree::Document::parse(text).expect("parsed above");
    let at = Location::file(format!("models/{first}"));
    let robot_joints = Roles::names(&entries, &order);
    let sub = mjcf_scene::robot_subtree(&doc, &robot_joints, &robot, &at)?;
    notes.push(format!("robot.xml: the body tree of \"{}\" in models/{first}", sub.root_body));
    meta.provenance = Some(serde_json::json!({
        "imported_by": "trajrnn import robosuite",
        "env": h5.attr_string("data", "env"),
        "columns": "qpos entries of data/demo_N/states (rows are [time, qpos, qvel])",
        "episodes": provenance,
        "notes": notes,
    }));
    let mut files = Vec::new();
    match mjcf_scene::end_effector(&sub.sites, mapping.end_effector.as_deref(), &at)? {
        Some(ee) => {
            meta.robot_description = Some(RobotDescriptionRef::mjcf("robot.xml", &ee));
            files.push(("robot.xml".to_string(), sub.xml.into_bytes()));
        }
        None => notes.push("no end-effector site (*grip_site) in the robot: no robot.xml written".into()),
    }
    let dataset = Dataset::new(meta, episodes, h5.path())?;
    Ok(finish("robosuite", h5.path(), dataset, &entries, &roles, dropped, notes, files))
}

/// A source value as stored: rounded to the mapping's significant digits, else to f32.
fn value(v: f64, mapping: &Mapping) -> f32 {
    match mapping.significant_digits {
        Some(d) if v.is_finite() => round_significant(v, d),
        _ => v as f32,
    }
}

fn units(mapping: &Mapping) -> Units {
    Units {
        joints: mapping.angle_unit.unwrap_or_default(),
        gripper: mapping.gripper_unit.clone().or_else(|| Some("m".into())),
        auxiliary: None,
        time: Default::default(),
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
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
    let report = ImportReport {
        format: format.into(),
        source: source.to_path_buf(),
        episodes: dataset.episodes.len(),
        frames: dataset.total_frames(),
        joints: dataset.meta.joints.clone(),
        gripper: dataset.meta.gripper.clone(),
        auxiliary: dataset.meta.auxiliary.clone(),
        ignored: Roles::names(entries, &roles.ignored),
        dropped_duplicates: dropped,
        split: dataset.meta.split.as_ref().map(|s| (s.train.len(), s.valid.len())),
        rate_hz: dataset.meta.rate_hz,
        notes,
    };
    Imported { dataset, report, files }
}
