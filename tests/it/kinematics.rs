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
