//! robosuite demonstration folders: `demo.hdf5` whose `data/demo_N/states` rows are
//! `[time, qpos, qvel]` of the scene `models/<model_file>`; the scene's hinge and slide joints are
//! the candidate channels, its robot subtree becomes `robot.xml`. This replaces the Python
//! converter that made `datasets/robosuite_pick_place` (the import reproduces it exactly).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::hdf5::H5;
use super::mjcf_scene::{self, SceneJoint};
use super::robomimic::{demos, finish, units, value};
use super::{
    Imported, Mapping, Roles, assign_roles, dataset_name, drop_duplicate_frames, rate_from_steps, round_decimals,
};
use crate::data::dataset::{Dataset, DatasetMeta, Episode, RobotDescriptionRef};
use crate::error::{Error, Location, Result};

/// A robosuite demonstration folder: `demo.hdf5` and the scene files under `models/`. `source`
/// may also be the `demo.hdf5` itself.
pub(crate) fn import(source: &Path, mapping: &Mapping) -> Result<Imported> {
    let (file, folder) = if source.is_dir() {
        (source.join("demo.hdf5"), source.to_path_buf())
    } else {
        (source.to_path_buf(), source.parent().unwrap_or(Path::new(".")).to_path_buf())
    };
    let h5 = H5::open(&file)?;
    let models = |name: &str| std::fs::read_to_string(folder.join("models").join(name)).ok();
    robosuite_from_h5(&h5, &models, &dataset_name(mapping, source), mapping)
}

/// As `import`, from the HDF5 file's bytes; `models` gives a scene file's text by
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
    let mut n_actions: Option<usize> = None;
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
        let mut commands = super::robomimic::commands_of(h5, demo, states.rows, mapping, &mut n_actions, &mut notes)?;
        if mapping.drop_duplicates {
            dropped += drop_duplicate_frames(&mut time, &mut values, dim, commands.as_mut());
        }
        let file_name = h5.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // Named by position, as tools/convert_robosuite.py named them (the bundled folders).
        let episode = format!("episode_{i:03}");
        provenance.push(serde_json::json!({
            "episode": episode, "source": format!("{file_name}:data/{demo}"), "frames": time.len(),
        }));
        let source = PathBuf::from(format!("{}:/data/{demo}", h5.path().display()));
        let mut episode = Episode::new(episode, source, time, values, dim);
        episode.commands = commands.take();
        episodes.push(episode);
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
    if let Some(n) = n_actions {
        // robosuite's actions are the controller's inputs (end-effector or joint commands and
        // the gripper, by the controller it ran), not joint positions.
        let names: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        meta.commands = super::command_channels("action", &names, &[]);
    }
    meta.units = units(mapping);
    meta.license = mapping.license.clone();
    let text = &texts[first.as_str()];
    let doc = roxmltree::Document::parse(text).expect("parsed above");
    let at = Location::file(format!("models/{first}"));
    // The robot is found by its own channels: auxiliary ones (a door's hinge) sit on other bodies.
    let robot_joints: Vec<String> =
        Roles::names(&entries, &roles.joints).into_iter().chain(Roles::names(&entries, &roles.gripper)).collect();
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
