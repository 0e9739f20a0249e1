use std::io::BufReader;

use rerun::external::re_log_encoding::DecoderApp;
use rerun::log::LogMsg;
use trajrnn::data::{Dataset, Encoding, EncodingConfig, Segment};
use trajrnn::kinematics::Kinematics;
use trajrnn::model::CellKind;
use trajrnn::rollout::prediction_track;
use trajrnn::viz::{Playback, Sink, record};

use crate::common::*;
use crate::model::config;

fn playback_file(with_robot: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let ds = Dataset::load(bundled("panda")).unwrap();
    let ep = &ds.episodes[0];
    let n = 300;
    let truth = ep.frames(0..n);
    let enc = Encoding::fit(&ds, &[Segment { episode: 0, frames: 0..n }], EncodingConfig::default()).unwrap();
    let dev = device();
    let model = config(CellKind::Gru, enc.input_dim(), 12, 1, 9).init(&dev, 0);
    let track = prediction_track(&model, &enc, truth, 20, 50, &dev);
    assert_eq!(track.start, 20);
    assert_eq!(track.states.len(), (n - 20) * 9);
    assert_eq!(track.anchors, [20, 70, 120, 170, 220, 270]);
    let kinematics = Kinematics::for_dataset(&ds).unwrap().unwrap();
    let dir = tempdir();
    let path = dir.path().join("out/test.rrd");
    let channels = ds.meta.channels();
    let playback = Playback {
        app_id: "trajrnn_test",
        kinematics: with_robot.then_some(&kinematics),
        channels: &channels,
        rate_hz: 20.0,
        time: &ep.time[..n],
        truth,
        prediction: &track,
        summary: "test",
    };
    assert_eq!(record(&Sink::File(path.clone()), &playback).unwrap(), Some(path.clone()));
    (dir, path)
}

fn messages(path: &std::path::Path) -> Vec<LogMsg> {
    let file = std::fs::File::open(path).unwrap();
    DecoderApp::decode_lazy(BufReader::new(file)).map(|m| m.expect("a readable recording")).collect()
}

#[test]
fn recording_is_written_atomically_with_every_stream() {
    let (_dir, path) = playback_file(true);
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 10_000, "recording of {} bytes", bytes.len());
    let text = String::from_utf8_lossy(&bytes);
    for entity in ["world/observed/links", "world/predicted/trail", "joints/robot0_joint1/predicted", "hidden/state"] {
        assert!(text.contains(entity), "{entity} missing from the recording");
    }
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["test.rrd"], "no temporary file is left behind");
}

/// A fresh viewer must open on our layout: the blueprint is sent with `make_active`.
#[test]
fn the_blueprint_is_active_not_only_default() {
    let (_dir, path) = playback_file(true);
    let activations: Vec<_> = messages(&path)
        .into_iter()
        .filter_map(|m| match m {
            LogMsg::BlueprintActivationCommand(c) => Some((c.make_active, c.make_default)),
            _ => None,
        })
        .collect();
    assert_eq!(activations, [(true, true)]);
}

#[test]
fn without_a_robot_description_the_3d_view_is_left_out() {
    let (_dir, path) = playback_file(false);
    let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
    assert!(!text.contains("world/observed/links"));
    assert!(text.contains("joints/robot0_joint1/observed"));
}
