use std::io::BufReader;

use rerun::external::re_log_encoding::DecoderApp;
use rerun::log::LogMsg;
use trajrnn::baselines::{BaselineConfig, Baselines};
use trajrnn::data::{Dataset, Segment};
use trajrnn::encoding::{Encoding, EncodingConfig};
use trajrnn::kinematics::Kinematics;
use trajrnn::model::CellKind;
use trajrnn::rollout::prediction_track;
use trajrnn::viz::{Playback, Sink, record};

use crate::common::*;
use crate::model::config;

fn fit(ds: &Dataset, segments: &[Segment]) -> Encoding {
    let baselines = Baselines::fit(ds, segments, &BaselineConfig::default()).unwrap();
    Encoding::fit(ds, segments, EncodingConfig::default(), &baselines).unwrap()
}

fn playback_file(with_robot: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let ds = Dataset::load(bundled("panda")).unwrap();
    let ep = &ds.episodes[0];
    let n = 300;
    let truth = ep.frames(0..n);
    let enc = fit(&ds, &[Segment { episode: 0, frames: 0..n }]);
    let dev = device();
    let model = config(CellKind::Gru, enc.input_dim(), 12, 1, 9).init(&dev, 0);
    let track = prediction_track(&model, &enc, truth, &[], 20, 50, &dev).unwrap();
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
        channels,
        rate_hz: 20.0,
        time: &ep.time[..n],
        truth,
        prediction: Some(&track),
        commands: None,
        phases: None,
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

/// Entity paths of the blueprint store and, per path, the components logged there.
fn blueprint_entities(path: &std::path::Path) -> Vec<(String, Vec<String>)> {
    messages(path)
        .into_iter()
        .filter_map(|m| match m {
            LogMsg::ArrowMsg(store, msg) if store.kind() == rerun::StoreKind::Blueprint => {
                let chunk = rerun::log::Chunk::from_arrow_msg(&msg).unwrap();
                let components = chunk.component_descriptors().map(|d| d.component.to_string()).collect();
                Some((chunk.entity_path().to_string(), components))
            }
            _ => None,
        })
        .collect()
}

/// The view properties the SDK's builders cannot set reach the blueprint store, in the store
/// the activation command activates: every plot spans the whole recording without a legend, and
/// the 3D view has a camera on the arm.
#[test]
fn the_layout_carries_plot_axes_legends_and_the_camera() {
    for with_robot in [true, false] {
        let (_dir, path) = playback_file(with_robot);
        let entities = blueprint_entities(&path);
        let with = |property: &str, component: &str| {
            entities
                .iter()
                .filter(|(p, c)| p.ends_with(&format!("/{property}")) && c.iter().any(|c| c == component))
                .count()
        };
        // 9 joint plots and the hidden units; the bar chart also hides its legend.
        assert_eq!(with("TimeAxis", "TimeAxis:view_range"), 10, "{entities:?}");
        assert_eq!(with("PlotLegend", "PlotLegend:visible"), 11);
        assert_eq!(with("EyeControls3D", "EyeControls3D:look_target"), with_robot as usize);
        let activated: Vec<_> = messages(&path)
            .into_iter()
            .filter_map(|m| match m {
                LogMsg::BlueprintActivationCommand(c) => Some(c.blueprint_id),
                _ => None,
            })
            .collect();
        let blueprint_stores: std::collections::HashSet<_> = messages(&path)
            .into_iter()
            .filter(|m| m.store_id().kind() == rerun::StoreKind::Blueprint)
            .map(|m| m.store_id().clone())
            .collect();
        assert_eq!(blueprint_stores.len(), 1, "one blueprint store");
        assert_eq!(activated, blueprint_stores.into_iter().collect::<Vec<_>>());
    }
}

#[test]
fn without_a_robot_description_the_3d_view_is_left_out() {
    let (_dir, path) = playback_file(false);
    let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
    assert!(!text.contains("world/observed/links"));
    assert!(text.contains("joints/robot0_joint1/observed"));
}

/// With a URDF whose links have meshes, the arms are meshes moved by per-link transforms; the
/// MJCF (no geometry) gives the stick figure.
#[test]
fn urdf_meshes_are_drawn_and_posed_per_link() {
    let dir = tempdir();
    let root = dir.path().join("panda");
    Dataset::load(bundled("panda")).unwrap().save(&root, &[]).unwrap();
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("dataset.json")).unwrap()).unwrap();
    let urdf = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/robots/panda/panda.urdf");
    let joints: std::collections::BTreeMap<String, String> =
        (1..=7).map(|i| (format!("robot0_joint{i}"), format!("panda_joint{i}"))).collect();
    meta["robot_description"] =
        serde_json::json!({"format": "urdf", "path": urdf, "end_effector": "panda_hand_tcp", "joints": joints});
    std::fs::write(root.join("dataset.json"), meta.to_string()).unwrap();
    let mut ds = Dataset::load(&root).unwrap();
    ds.outside_files = true; // the URDF is the repository's, outside the dataset folder
    let kinematics = Kinematics::for_dataset(&ds).unwrap().unwrap();
    let n = 60;
    let ep = &ds.episodes[0];
    let enc = fit(&ds, &[Segment { episode: 0, frames: 0..n }]);
    let dev = device();
    let model = config(CellKind::Gru, enc.input_dim(), 8, 1, 9).init(&dev, 0);
    let track = prediction_track(&model, &enc, ep.frames(0..n), &[], 20, 20, &dev).unwrap();
    let channels = ds.meta.channels();
    let path = dir.path().join("meshes.rrd");
    let playback = Playback {
        app_id: "trajrnn_test",
        kinematics: Some(&kinematics),
        channels,
        rate_hz: 20.0,
        time: &ep.time[..n],
        truth: ep.frames(0..n),
        prediction: Some(&track),
        commands: None,
        phases: None,
        summary: "meshes",
    };
    record(&Sink::File(path.clone()), &playback).unwrap();
    let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
    for entity in [
        "world/observed/links/panda_link3/visual_",
        "world/predicted/links/panda_hand/visual_",
        "world/floor",
        "world/observed/trail",
    ] {
        assert!(text.contains(entity), "{entity} missing");
    }
    assert!(text.contains("Asset3D") && text.contains("Transform3D"));
    assert!(!text.contains("world/observed/joints"), "no stick figure where meshes are drawn");
    // The stick figure stays for the MJCF description, which has no geometry.
    let (_d, stick) = playback_file(true);
    let text = String::from_utf8_lossy(&std::fs::read(&stick).unwrap()).into_owned();
    assert!(text.contains("world/observed/joints") && !text.contains("Asset3D"));
}
