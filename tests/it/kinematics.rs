use std::path::Path;

use nalgebra::Vector3;
use trajrnn::kinematics::RobotModel;

use crate::common::bundled;

fn panda() -> (RobotModel, Vec<String>) {
    let ds = trajrnn::data::folder::load_meta(&bundled("panda")).unwrap();
    (RobotModel::from_mjcf_file(&bundled("panda").join("robot.xml")).unwrap(), ds.channels())
}

#[test]
fn panda_zero_pose_matches_its_published_geometry() {
    let (robot, channels) = panda();
    let map = robot.joint_map(&channels);
    let poses = robot.forward(&[0.0; 9], &map);
    let body = |name: &str| robot.bodies.iter().position(|b| b.name == name).unwrap();
    let base = poses[body("robot0_link0")].translation.vector;
    // Franka's kinematics: link 7 sits 0.088 m forward and 0.333 + 0.316 + 0.384 m up at q = 0.
    let link7 = poses[body("robot0_link7")].translation.vector - base;
    assert!((link7 - Vector3::new(0.088, 0.0, 1.033)).norm() < 1e-4, "{link7}");
    // The hand flange points down, 0.1065 m below link 7.
    let hand = poses[body("robot0_right_hand")].translation.vector - base;
    assert!((hand - Vector3::new(0.088, 0.0, 1.033 - 0.1065)).norm() < 1e-3, "{hand}");
}

#[test]
fn first_joint_turns_the_arm_about_the_vertical() {
    let (robot, channels) = panda();
    let map = robot.joint_map(&channels);
    let ee = robot.site("gripper0_grip_site").unwrap();
    let base = robot.forward(&[0.0; 9], &map)[0].translation.vector;
    let mut q = [0.0f32, -0.5, 0.0, -2.0, 0.0, 1.6, 0.8, 0.02, -0.02];
    let p0 = robot.site_position(&robot.forward(&q, &map), ee).coords - base;
    q[0] = std::f32::consts::FRAC_PI_2;
    let p1 = robot.site_position(&robot.forward(&q, &map), ee).coords - base;
    // A quarter turn about +z: (x, y) → (−y, x), height unchanged.
    assert!((p1 - Vector3::new(-p0.y, p0.x, p0.z)).norm() < 1e-6, "{p0} → {p1}");
    assert!(p0.xy().norm() > 0.3, "the end effector is out from the base");
}

#[test]
fn sawyer_description_drives_every_arm_joint() {
    let meta = trajrnn::data::folder::load_meta(&bundled("sawyer")).unwrap();
    let robot = RobotModel::from_mjcf_file(&bundled("sawyer").join("robot.xml")).unwrap();
    let names = robot.joint_names();
    for c in meta.channels() {
        assert!(names.contains(&c.as_str()), "{c} not in the MJCF");
    }
    assert!(robot.site(&meta.robot_description.unwrap().end_effector).is_some());
}

#[test]
fn bad_descriptions_are_reported_with_line() {
    let p = Path::new("robot.xml");
    let e = RobotModel::from_mjcf_str("<mujoco><worldbody>\n<body pos=\"0 0\"/></worldbody></mujoco>", p).unwrap_err();
    assert!(e.to_string().contains("robot.xml:2") && e.to_string().contains("expected 3 numbers"), "{e}");
    let e =
        RobotModel::from_mjcf_str("<mujoco><worldbody><body>\n<joint type=\"ball\"/></body></worldbody></mujoco>", p)
            .unwrap_err();
    assert!(e.to_string().contains("robot.xml:2") && e.to_string().contains("ball"), "{e}");
    let e = RobotModel::from_mjcf_str("<mujoco><worldbody>", p).unwrap_err();
    assert!(e.to_string().contains("not valid XML"), "{e}");
}

fn panda_urdf() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/robots/panda/panda.urdf")
}

/// robosuite's channel names → the URDF's joints (finger 2 is left to its mimic).
fn panda_aliases() -> std::collections::BTreeMap<String, String> {
    (1..=7)
        .map(|i| (format!("robot0_joint{i}"), format!("panda_joint{i}")))
        .chain([("gripper0_finger_joint1".to_string(), "panda_finger_joint1".to_string())])
        .collect()
}

#[test]
fn panda_urdf_and_mjcf_agree_within_a_millimetre() {
    use rand::{Rng, SeedableRng};
    let (mjcf, channels) = panda();
    let urdf = RobotModel::from_urdf_file(&panda_urdf()).unwrap();
    let (mjcf_map, urdf_map) = (mjcf.joint_map(&channels), urdf.joint_map_with(&channels, &panda_aliases()));
    let body = |r: &RobotModel, name: &str| r.bodies.iter().position(|b| b.name == name).unwrap();
    // One fixed transform, from the zero pose: where the MJCF scene puts the arm's base link.
    let zero = [0f32; 9];
    let base = mjcf.forward(&zero, &mjcf_map)[body(&mjcf, "robot0_link0")]
        * urdf.forward(&zero, &urdf_map)[body(&urdf, "panda_link0")].inverse();
    let limits = [
        (-2.8973, 2.8973),
        (-1.7628, 1.7628),
        (-2.8973, 2.8973),
        (-3.0718, -0.0698),
        (-2.8973, 2.8973),
        (-0.0175, 3.7525),
        (-2.8973, 2.8973),
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut worst = 0f64;
    for _ in 0..2000 {
        let mut q = [0f32; 9];
        for (j, (lo, hi)) in limits.iter().enumerate() {
            q[j] = rng.random_range(*lo..*hi);
        }
        let (pm, pu) = (mjcf.forward(&q, &mjcf_map), urdf.forward(&q, &urdf_map));
        // The hand: MJCF's robot0_right_hand (0.1065 m past link 7), URDF's panda_hand (0.107 m).
        let (hm, hu) = (pm[body(&mjcf, "robot0_right_hand")], base * pu[body(&urdf, "panda_hand")]);
        let d = (hm.translation.vector - hu.translation.vector).norm();
        worst = worst.max(d);
        assert!(d < 1e-3, "hand {d} m apart at {q:?}");
        assert!(hm.rotation.angle_to(&hu.rotation) < 2e-3, "hand orientation at {q:?}");
        // Fingers: robosuite's finger 2 holds the negative opening, the URDF's mimics finger 1
        // along −y: the same opening moves each finger by the same vector in both.
        let open: f32 = rng.random_range(0.0..0.04);
        let mut q_open = q;
        (q_open[7], q_open[8]) = (open, -open);
        let (om, ou) = (mjcf.forward(&q_open, &mjcf_map), urdf.forward(&q_open, &urdf_map));
        for (fm, fu) in [("gripper0_leftfinger", "panda_leftfinger"), ("gripper0_rightfinger", "panda_rightfinger")] {
            let moved_m = om[body(&mjcf, fm)].translation.vector - pm[body(&mjcf, fm)].translation.vector;
            let moved_u =
                base.rotation * (ou[body(&urdf, fu)].translation.vector - pu[body(&urdf, fu)].translation.vector);
            // (Within 0.1 mm: robosuite rounds its quaternions to 6 digits; a wrong sign is 2 × open.)
            assert!((moved_m - moved_u).norm() < 1e-4, "{fm}: {moved_m} vs {moved_u}");
            assert!((moved_m.norm() - open as f64).abs() < 1e-6);
        }
    }
    assert!(worst > 1e-4, "the two descriptions are not the same file: the hands differ by 0.5 mm ({worst})");
}

#[test]
fn urdf_links_are_sites_and_carry_their_meshes() {
    let urdf = RobotModel::from_urdf_file(&panda_urdf()).unwrap();
    assert_eq!(urdf.bodies.len(), 13);
    assert_eq!(urdf.joint_names().len(), 9, "7 arm joints and 2 fingers; fixed joints add none");
    assert!(urdf.site("panda_hand_tcp").is_some());
    let meshes: Vec<_> = urdf
        .visuals
        .iter()
        .filter_map(|v| match &v.geometry {
            trajrnn::kinematics::Geometry::Mesh { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(meshes.len(), 11, "link0..7, hand and two fingers");
    assert!(meshes.iter().all(|p| p.is_file()), "{meshes:?}");
    // The hand TCP is 0.1034 m past the hand along its z axis.
    let map = urdf.joint_map(&[]);
    let poses = urdf.forward(&[], &map);
    let hand = poses[urdf.site("panda_hand").unwrap()];
    let tcp = poses[urdf.site("panda_hand_tcp").unwrap()];
    assert!(((hand.inverse() * tcp).translation.vector - Vector3::new(0.0, 0.0, 0.1034)).norm() < 1e-9);
}

#[test]
fn a_dataset_can_use_the_urdf_with_a_joint_map() {
    let dir = crate::common::tempdir();
    let root = dir.path().join("panda");
    trajrnn::data::Dataset::load(bundled("panda")).unwrap().save(&root, &[]).unwrap();
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("dataset.json")).unwrap()).unwrap();
    let urdf = panda_urdf();
    meta["robot_description"] = serde_json::json!({
        "format": "urdf", "path": urdf.to_str().unwrap(), "end_effector": "panda_hand", "joints": panda_aliases(),
    });
    std::fs::write(root.join("dataset.json"), meta.to_string()).unwrap();
    let mut ds = trajrnn::data::Dataset::load(&root).unwrap();
    // The URDF lies outside the dataset folder: read only when the dataset is trusted.
    let e = trajrnn::kinematics::Kinematics::for_dataset(&ds).unwrap_err().to_string();
    assert!(e.contains("outside the dataset folder") && e.contains("--allow-outside-files"), "{e}");
    ds.outside_files = true;
    let k = trajrnn::kinematics::Kinematics::for_dataset(&ds).unwrap().unwrap();
    let p = k.end_effector_position(ds.episodes[0].frame(0)).unwrap();
    // The first Panda frame puts the hand in front of the base, above the table.
    assert!(p.x > 0.3 && p.z > 0.0, "{p}");
    meta["robot_description"]["joints"]["robot0_joint1"] = "no_such_joint".into();
    std::fs::write(root.join("dataset.json"), meta.to_string()).unwrap();
    let mut ds = trajrnn::data::Dataset::load(&root).unwrap();
    ds.outside_files = true;
    let e = trajrnn::kinematics::Kinematics::for_dataset(&ds).unwrap_err().to_string();
    assert!(e.contains("panda.urdf") && e.contains("no_such_joint"), "{e}");
}

#[test]
fn bad_urdf_is_reported_with_its_line() {
    let p = Path::new("r.urdf");
    let e = RobotModel::from_urdf_str("<robot name=\"r\">\n<link name=\"a\">\n</robot>", p).unwrap_err().to_string();
    assert!(e.contains("r.urdf:3") && e.contains("not valid XML"), "{e}");
    let two_roots = "<robot name=\"r\"><link name=\"a\"/><link name=\"b\"/></robot>";
    let e = RobotModel::from_urdf_str(two_roots, p).unwrap_err().to_string();
    assert!(e.contains("2 root links"), "{e}");
    let floating = "<robot name=\"r\"><link name=\"a\"/><link name=\"b\"/>\n\
        <joint name=\"f\" type=\"floating\"><parent link=\"a\"/><child link=\"b\"/></joint></robot>";
    let e = RobotModel::from_urdf_str(floating, p).unwrap_err().to_string();
    assert!(e.contains("r.urdf:2") && e.contains("<joint name=\"f\">") && e.contains("Floating"), "{e}");
    let dangling = "<robot name=\"r\"><link name=\"a\"/>\n\n<joint name=\"j\" type=\"fixed\"><parent link=\"a\"/><child link=\"z\"/></joint></robot>";
    let e = RobotModel::from_urdf_str(dangling, p).unwrap_err().to_string();
    assert!(e.contains("r.urdf:3") && e.contains("\"z\""), "{e}");
}
