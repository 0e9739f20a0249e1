use trajrnn::data::Dataset;
use trajrnn::kinematics::RobotModel;
use trajrnn::model::{CellKind, ModelConfig};
use trajrnn::rollout::prediction_track;
use trajrnn::viz::{Playback, Sink, record};

use crate::common::*;

#[test]
fn recording_is_written_atomically_with_every_stream() {
    let ds = Dataset::load(bundled("panda")).unwrap();
    let ep = &ds.episodes[0];
    let n = 300;
    let truth = ep.frames(0..n);
    let norm = trajrnn::data::Normalizer::fit(&ds, &[trajrnn::data::Segment { episode: 0, frames: 0..n }]).unwrap();
    let dev = device();
    let model = ModelConfig { cell: CellKind::Gru, input_dim: 18, hidden: 12, layers: 1, output_dim: 9 }.init(&dev, 0);
    let track = prediction_track(&model, &norm, truth, 20, 50, &dev);
    assert_eq!(track.start, 20);
    assert_eq!(track.states.len(), (n - 20) * 9);
    assert_eq!(track.anchors, [20, 70, 120, 170, 220, 270]);
    let robot = RobotModel::from_mjcf_file(&bundled("panda").join("robot.xml")).unwrap();
    let dir = tempdir();
    let path = dir.path().join("out/test.rrd");
    let channels = ds.meta.channels();
    let playback = Playback {
        app_id: "trajrnn_test",
        robot: &robot,
        end_effector_site: robot.site("gripper0_grip_site"),
        channels: &channels,
        rate_hz: 20.0,
        time: &ep.time[..n],
        truth,
        prediction: &track,
        summary: "test",
    };
    assert_eq!(record(&Sink::File(path.clone()), &playback).unwrap(), Some(path.clone()));
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 10_000, "recording of {} bytes", bytes.len());
    let text = String::from_utf8_lossy(&bytes);
    for entity in ["world/observed/links", "world/predicted/trail", "joints/robot0_joint1/predicted", "hidden/state"] {
        assert!(text.contains(entity), "{entity} missing from the recording");
    }
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["test.rrd"], "no temporary file is left behind");
}
