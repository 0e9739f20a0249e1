//! robomimic and robosuite HDF5 imports: files built here with hdf5-pure's writer, a fixture
//! written by h5py (tests/fixtures/make_fixtures.py), and the shared robosuite demos.

use std::path::{Path, PathBuf};

use hdf5_pure::{AttrValue, FileBuilder};
use trajrnn::data::import::robomimic::robomimic_from_bytes;
use trajrnn::data::import::robosuite::robosuite_from_bytes;
use trajrnn::data::import::{Format, Mapping, import};
use trajrnn::data::{Dataset, DeclaredSplit};
use trajrnn::kinematics::{Kinematics, RobotModel};

use crate::common::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The formula of tests/fixtures/make_fixtures.py.
fn q(t: usize, j: usize, demo: usize) -> f64 {
    0.1 * j as f64 + 0.01 * t as f64 + demo as f64
}

#[test]
fn robomimic_file_written_by_h5py() {
    let imported = import(Format::Robomimic, &fixture("robomimic_h5py.hdf5"), &Mapping::default()).unwrap();
    let ds = &imported.dataset;
    // Names from the demos' model_file; roles by name; rate from env_args.control_freq.
    assert_eq!(ds.meta.joints, (1..=7).map(|i| format!("robot0_joint{i}")).collect::<Vec<_>>());
    assert_eq!(ds.meta.gripper, ["gripper0_finger_joint1", "gripper0_finger_joint2"]);
    assert_eq!((ds.meta.rate_hz, ds.meta.robot.as_str()), (20.0, "panda"));
    let names: Vec<&str> = ds.episodes.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["demo_0", "demo_1", "demo_10"], "numeric order");
    assert_eq!(
        ds.meta.split,
        Some(DeclaredSplit {
            train: vec!["demo_0".into(), "demo_10".into()],
            valid: vec!["demo_1".into()],
            test: None
        })
    );
    assert_eq!(imported.report.split, Some((2, 1)));
    for (d, e) in ds.episodes.iter().enumerate() {
        assert_eq!(e.len(), [12, 9, 5][d]);
        for t in 0..e.len() {
            assert_eq!(e.time[t], t as f64 / 20.0);
            let row = e.frame(t);
            for (j, &value) in row.iter().take(7).enumerate() {
                let expected = q(t, j, d);
                if d == 1 {
                    // demo_1 holds only cos and sin: atan2 gives the angle back to rounding.
                    assert!((value as f64 - expected).abs() < 1e-6, "{d} {t} {j}: {value} vs {expected}");
                } else {
                    assert_eq!(value, expected as f32, "{d} {t} {j}");
                }
            }
            let g = 0.02 + 0.001 * t as f64;
            assert_eq!(&row[7..], [g as f32, -g as f32]);
        }
    }
    // The scene's robot subtree is the robot description, with its grip site.
    let (name, xml) = &imported.files[0];
    assert_eq!(name, "robot.xml");
    let robot = RobotModel::from_mjcf_str(std::str::from_utf8(xml).unwrap(), Path::new("robot.xml")).unwrap();
    assert!(robot.site("gripper0_grip_site").is_some());
    let dir = tempdir();
    imported.save(&dir.path().join("out")).unwrap();
    let loaded = Dataset::load(dir.path().join("out")).unwrap();
    assert!(Kinematics::for_dataset(&loaded).unwrap().is_some());
    assert_eq!(loaded.meta.split, ds.meta.split);
}

/// A robomimic file as hdf5-pure writes it: `joints[d]` rows per demo.
fn robomimic_bytes(frames: &[usize], with_gripper: bool, mask: Option<(&[&str], &[&str])>) -> Vec<u8> {
    let mut b = FileBuilder::new();
    let mut data = b.create_group("data");
    data.set_attr("env_args", AttrValue::String(r#"{"env_kwargs": {"control_freq": 10}}"#.into()));
    for (d, &n) in frames.iter().enumerate() {
        let mut demo = data.create_group(&format!("demo_{d}"));
        let mut obs = demo.create_group("obs");
        let joints: Vec<f64> = (0..n).flat_map(|t| (0..3).map(move |j| q(t, j, d))).collect();
        obs.create_dataset("robot0_joint_pos").with_f64_data(&joints).with_shape(&[n as u64, 3]);
        if with_gripper {
            let g: Vec<f32> = (0..n).map(|t| t as f32 * 0.5).collect();
            obs.create_dataset("robot0_gripper_qpos").with_f32_data(&g).with_shape(&[n as u64, 1]);
        }
        demo.add_group(obs.finish());
        data.add_group(demo.finish());
    }
    b.add_group(data.finish());
    if let Some((train, valid)) = mask {
        let mut m = b.create_group("mask");
        m.create_dataset("train").with_strings(train).unwrap();
        m.create_dataset("valid").with_strings(valid).unwrap();
        b.add_group(m.finish());
    }
    b.finish().unwrap()
}

#[test]
fn robomimic_without_a_scene_names_channels_by_position() {
    let bytes = robomimic_bytes(&[4, 6], true, Some((&["demo_1"], &["demo_0"])));
    let imported = robomimic_from_bytes(Path::new("rm.hdf5"), bytes, &Mapping::default()).unwrap();
    let ds = &imported.dataset;
    assert_eq!(ds.meta.joints, ["robot0_joint_pos_0", "robot0_joint_pos_1", "robot0_joint_pos_2"]);
    assert_eq!(ds.meta.gripper, ["robot0_gripper_qpos_0"]);
    assert_eq!(ds.meta.rate_hz, 10.0);
    assert_eq!(ds.episodes[1].frame(5), [q(5, 0, 1) as f32, q(5, 1, 1) as f32, q(5, 2, 1) as f32, 2.5]);
    assert_eq!(ds.episodes[1].time[5], 0.5);
    assert!(imported.files.is_empty(), "no scene, no robot.xml");
    // Flags pick the roles.
    let mapping = Mapping {
        joints: Some(vec!["robot0_joint_pos_2".into()]),
        gripper: Some(vec![]),
        rate_hz: Some(50.0),
        ..Mapping::default()
    };
    let bytes = robomimic_bytes(&[4], true, None);
    let imported = robomimic_from_bytes(Path::new("rm.hdf5"), bytes, &mapping).unwrap();
    assert_eq!(imported.dataset.meta.channels(), ["robot0_joint_pos_2"]);
    assert_eq!(imported.report.ignored.len(), 3);
    assert_eq!(imported.dataset.episodes[0].time[1], 0.02);
}

#[test]
fn robomimic_errors_name_the_group() {
    let e = |bytes: Vec<u8>| {
        robomimic_from_bytes(Path::new("rm.hdf5"), bytes, &Mapping::default()).unwrap_err().to_string()
    };
    let msg = e(robomimic_bytes(&[4, 6], true, Some((&["demo_1"], &["demo_7"]))));
    assert!(
        msg.contains("rm.hdf5") && msg.contains("/mask/valid") && msg.contains("row 0") && msg.contains("demo_7"),
        "{msg}"
    );
    let msg = e(b"not hdf5 at all".to_vec());
    assert!(msg.contains("rm.hdf5") && msg.contains("HDF5"), "{msg}");
    let mut b = FileBuilder::new();
    let mut data = b.create_group("data");
    let mut demo = data.create_group("demo_0");
    let mut obs = demo.create_group("obs");
    obs.create_dataset("robot0_eef_pos").with_f64_data(&[0.0; 6]).with_shape(&[2, 3]);
    demo.add_group(obs.finish());
    data.add_group(demo.finish());
    b.add_group(data.finish());
    let msg = e(b.finish().unwrap());
    assert!(msg.contains("/data/demo_0/obs") && msg.contains("robot0_joint_pos"), "{msg}");
}

/// A robosuite scene: a free object first (so the robot's qpos does not start at 0), then a
/// 2-joint arm with a finger.
const SCENE: &str = r#"<mujoco model="base"><compiler angle="radian"/><worldbody>
  <body name="cube"><joint name="cube_jnt" type="free"/></body>
  <body name="base" pos="0 0 1"><body name="l1"><joint name="j1" axis="0 0 1"/>
    <body name="l2" pos="0.5 0 0"><joint name="j2" axis="0 1 0"/>
      <body name="hand" pos="0.3 0 0"><site name="grip_site"/><body name="f"><joint name="finger" type="slide"/></body></body>
  </body></body></body>
</worldbody></mujoco>"#;

fn robosuite_bytes(frames: usize) -> Vec<u8> {
    robosuite_bytes_with(frames, 0)
}

/// As [`robosuite_bytes`], for a scene with `extra` hinge joints after the arm (qpos entry
/// `10 + k` holds `-(k + 1)`).
fn robosuite_bytes_with(frames: usize, extra: usize) -> Vec<u8> {
    // rows: time, qpos (7 free + 3 + extra), qvel (6 + 3 + extra)
    let nq = 10 + extra;
    let cols = 1 + nq + 9 + extra;
    let mut states = vec![0.0f64; frames * cols];
    for t in 0..frames {
        let row = &mut states[t * cols..(t + 1) * cols];
        row[0] = 0.002 * 5.0 * (t + 1) as f64; // MuJoCo time, float sums
        row[1..8].copy_from_slice(&[9.0; 7]);
        row[8] = 0.1 * t as f64 + 1.0 / 3.0;
        row[9] = -0.2 * t as f64;
        row[10] = 0.01 * t as f64;
        for k in 0..extra {
            row[11 + k] = -((k + 1) as f64);
        }
    }
    let mut b = FileBuilder::new();
    let mut data = b.create_group("data");
    data.set_attr("env", AttrValue::String("Lift".into()));
    let mut demo = data.create_group("demo_1");
    demo.set_attr("model_file", AttrValue::String("model_1.xml".into()));
    demo.create_dataset("states").with_f64_data(&states).with_shape(&[frames as u64, cols as u64]);
    data.add_group(demo.finish());
    b.add_group(data.finish());
    b.finish().unwrap()
}

#[test]
fn robosuite_states_are_cut_by_the_scenes_qpos_layout() {
    let models = |name: &str| (name == "model_1.xml").then(|| SCENE.to_string());
    let mapping = Mapping { name: Some("rs".into()), ..Mapping::default() };
    let imported = robosuite_from_bytes(Path::new("demo.hdf5"), robosuite_bytes(6), &models, &mapping).unwrap();
    let ds = &imported.dataset;
    assert_eq!(
        (ds.meta.joints.clone(), ds.meta.gripper.clone()),
        (vec!["j1".to_string(), "j2".into()], vec!["finger".into()])
    );
    assert_eq!(ds.meta.rate_hz, 100.0);
    let e = &ds.episodes[0];
    assert_eq!(e.name, "episode_000");
    for t in 0..6 {
        assert_eq!(e.time[t], 0.002 * 5.0 * (t + 1) as f64);
        assert_eq!(
            e.frame(t),
            [(0.1 * t as f64 + 1.0 / 3.0) as f32, (-0.2 * t as f64) as f32, (0.01 * t as f64) as f32]
        );
    }
    // Rounding as a text export would (what tools/convert_robosuite.py did).
    let rounded = Mapping { significant_digits: Some(3), time_decimals: Some(2), ..mapping.clone() };
    let r = robosuite_from_bytes(Path::new("demo.hdf5"), robosuite_bytes(6), &models, &rounded).unwrap();
    assert_eq!(r.dataset.episodes[0].frame(1)[0], 0.433);
    assert_eq!(r.dataset.episodes[0].time[1], 0.02);
    // robot.xml is the arm's subtree and gives the grip site.
    let xml = std::str::from_utf8(&imported.files[0].1).unwrap();
    assert!(xml.contains("<body name=\"base\"") && !xml.contains("cube"), "{xml}");
    assert_eq!(ds.meta.robot_description.as_ref().unwrap().end_effector, "grip_site");
    // A scene whose layout does not fit the states is an error naming the dataset.
    let bad = |name: &str| (name == "model_1.xml").then(|| SCENE.replace("type=\"free\"", "type=\"ball\""));
    let err = robosuite_from_bytes(Path::new("demo.hdf5"), robosuite_bytes(6), &bad, &mapping).unwrap_err().to_string();
    assert!(err.contains("/data/demo_1/states") && err.contains("1 + 7 (qpos) + 6 (qvel)"), "{err}");
    let none = |_: &str| None;
    let err =
        robosuite_from_bytes(Path::new("demo.hdf5"), robosuite_bytes(6), &none, &mapping).unwrap_err().to_string();
    assert!(err.contains("/data/demo_1") && err.contains("model_file") && err.contains("missing"), "{err}");
}

/// Auxiliary channels on another body than the robot (robosuite's Door: the door's hinge and
/// latch) are imported, and robot.xml is still the robot's subtree.
#[test]
fn robosuite_auxiliary_joints_off_the_robot() {
    let scene = SCENE.replace(
        "</worldbody>",
        r#"<body name="door"><joint name="hinge"/><body name="latch"><joint name="latch_joint"/></body></body>
</worldbody>"#,
    );
    let models = |name: &str| (name == "model_1.xml").then(|| scene.clone());
    let mapping = Mapping { auxiliary: vec!["hinge".into(), "latch_joint".into()], ..Mapping::default() };
    let imported = robosuite_from_bytes(Path::new("demo.hdf5"), robosuite_bytes_with(3, 2), &models, &mapping).unwrap();
    let ds = &imported.dataset;
    assert_eq!(ds.meta.channels(), ["j1", "j2", "finger", "hinge", "latch_joint"]);
    assert_eq!(ds.meta.auxiliary, ["hinge", "latch_joint"]);
    assert_eq!(ds.episodes[0].frame(2)[3..], [-1.0, -2.0]);
    let xml = std::str::from_utf8(&imported.files[0].1).unwrap();
    assert!(xml.contains("<body name=\"base\"") && !xml.contains("hinge"), "{xml}");
    assert_eq!(ds.meta.robot_description.as_ref().unwrap().end_effector, "grip_site");
}

/// The shared robosuite demonstrations (`../shared/data/robosuite`, or `TRAJRNN_ROBOSUITE_DATA`)
/// imported with the commands in datasets/robosuite_pick_place/README.md give the bundled
/// datasets, value for value.
#[test]
fn robosuite_import_reproduces_the_bundled_datasets() {
    let shared = std::env::var_os("TRAJRNN_ROBOSUITE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/robosuite"));
    if !shared.join("PandaPickPlace/demo.hdf5").is_file() {
        eprintln!("skipped: no robosuite demonstrations at {} (set TRAJRNN_ROBOSUITE_DATA)", shared.display());
        return;
    }
    let sawyer_joints: Vec<String> = (0..7).map(|i| format!("right_j{i}")).collect();
    for (robot, folder, joints) in
        [("panda", "PandaPickPlace", None), ("sawyer", "SawyerPickPlace", Some(sawyer_joints))]
    {
        let mapping = Mapping {
            name: Some(format!("robosuite_pick_place_{robot}")),
            robot: Some(robot.into()),
            joints,
            significant_digits: Some(7),
            time_decimals: Some(4),
            ..Mapping::default()
        };
        let imported = import(Format::Robosuite, &shared.join(folder), &mapping).unwrap();
        let reference = Dataset::load(bundled(robot)).unwrap();
        let ds = &imported.dataset;
        assert_eq!(ds.meta.channels(), reference.meta.channels(), "{robot}");
        assert_eq!(
            (ds.meta.rate_hz, &ds.meta.robot_description),
            (reference.meta.rate_hz, &reference.meta.robot_description)
        );
        assert_eq!(ds.episodes.len(), reference.episodes.len());
        for (a, b) in ds.episodes.iter().zip(&reference.episodes) {
            assert_eq!(a.name, b.name);
            assert_eq!(a.time, b.time, "{robot} {}", a.name);
            assert_eq!(a.states, b.states, "{robot} {}", a.name);
        }
        let xml = std::fs::read(bundled(robot).join("robot.xml")).unwrap();
        assert_eq!(imported.files, [("robot.xml".to_string(), xml)], "{robot}: robot.xml byte for byte");
    }
}
