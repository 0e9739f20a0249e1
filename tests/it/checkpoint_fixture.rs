//! The versioned checkpoint fixtures: `tests/fixtures/checkpoint_v3.ckpt` and `checkpoint_v4.ckpt`
//! were written by training runs of checkpoint versions 3 and 4 and must keep loading, and
//! predicting what they predicted then, in every later version (version 3 through the header
//! migration).
//!
//! `tests/fixtures/checkpoint_vN.json` holds the frames fed to the fixture's `Predictor` and the
//! predictions it gave when the fixture was made. The current version's files come from
//! [`regenerate_checkpoint_fixture`] (version 3's from the same program as it was then):
//!
//! ```text
//! TRAJRNN_WRITE_FIXTURE=1 cargo test --test it checkpoint_fixture -- --ignored
//! ```
//!
//! Regenerate only when the fixture itself must change (never to make a failing load pass: a
//! later checkpoint version gets a fixture of its own beside these).
//! Without `TRAJRNN_WRITE_FIXTURE` the ignored test writes to a temporary folder and only checks
//! that the program still works (so `cargo test -- --ignored` leaves the fixture alone).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use trajrnn::baselines::BaselineConfig;
use trajrnn::checkpoint::{self, CHECKPOINT_VERSION};
use trajrnn::data::{SplitConfig, SplitMode};
use trajrnn::encoding::{EncodingConfig, TargetBase};
use trajrnn::eval::EvalConfig;
use trajrnn::model::CellKind;
use trajrnn::run::{self, DataSection, ModelSection, TrainOptions};
use trajrnn::train::{Selection, TrainConfig};
use trajrnn::{Predictor, RunConfig};

use crate::common::*;
/// Frames fed to the predictor, and frames rolled out after them.
const FRAMES: usize = 12;
const ROLLOUT: usize = 5;
/// Largest difference accepted from the stored values: the host kernels pick their SIMD
/// instructions at run time (FMA or not), which moves the last bits of an f32.
const TOLERANCE: f32 = 1e-6;

/// What the fixture predicted when it was made (the JSON file).
#[derive(Debug, Serialize, Deserialize)]
struct Expected {
    about: String,
    checkpoint: String,
    checkpoint_version: u32,
    channels: Vec<String>,
    /// Observed frames, `[FRAMES][dim]`, in `channels` order.
    frames: Vec<Vec<f32>>,
    /// The predictor's answer to each frame (`null` before its first prediction).
    predictions: Vec<Option<Vec<f32>>>,
    /// `Predictor::rollout(ROLLOUT)` after the last frame, `[ROLLOUT][dim]`.
    rollout: Vec<Vec<f32>>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn name(version: u32, ext: &str) -> String {
    format!("checkpoint_v{version}.{ext}")
}

/// Frames the fixture never saw in training: the tiny dataset's motion at another phase.
fn held_out_frames() -> Vec<Vec<f32>> {
    let csv = episode_csv(FRAMES, 7);
    csv.lines().skip(1).map(|line| line.split(',').skip(1).map(|v| v.parse::<f32>().unwrap()).collect()).collect()
}

/// Feeds `frames` one at a time, then rolls out.
fn predict(predictor: &mut Predictor, frames: &[Vec<f32>]) -> (Vec<Option<Vec<f32>>>, Vec<Vec<f32>>) {
    predictor.reset();
    let predictions = frames.iter().map(|f| predictor.observe(f).unwrap().map(<[f32]>::to_vec)).collect();
    let rollout = predictor.rollout(ROLLOUT).unwrap().chunks(predictor.dim()).map(<[f32]>::to_vec).collect();
    (predictions, rollout)
}

fn close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (c, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= TOLERANCE, "{what}, channel {c}: {g} where the fixture recorded {w}");
    }
}

fn check_against(predictor: &mut Predictor, expected: &Expected, engine: &str) {
    assert_eq!(predictor.channels(), expected.channels.as_slice());
    let (predictions, rollout) = predict(predictor, &expected.frames);
    assert_eq!(predictions.len(), expected.predictions.len());
    for (i, (got, want)) in predictions.iter().zip(&expected.predictions).enumerate() {
        match (got, want) {
            (Some(g), Some(w)) => close(&format!("{engine}: prediction after frame {i}"), g, w),
            (None, None) => {}
            _ => panic!("{engine}: after frame {i} the predictor gave {got:?}, the fixture recorded {want:?}"),
        }
    }
    for (k, (g, w)) in rollout.iter().zip(&expected.rollout).enumerate() {
        close(&format!("{engine}: rollout step {k}"), g, w);
    }
}

fn check_fixture(version: u32) {
    let path = fixtures().join(name(version, "ckpt"));
    let expected: Expected =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join(name(version, "json"))).unwrap()).unwrap();
    let ck = checkpoint::load(&path, &device()).unwrap();
    assert_eq!(ck.meta.checkpoint_version, version);
    assert_eq!(expected.checkpoint_version, version);
    assert_eq!(ck.meta.model.cell, CellKind::Gru);
    assert!(ck.optimizer.is_none());
    assert!(expected.predictions.iter().any(Option::is_some));

    // The model as loaded, through the host engine; the same file through both loaders.
    let mut from_model = Predictor::from_model(&ck.model, ck.meta.encoding.clone(), ck.meta.data.clone());
    check_against(&mut from_model, &expected, "from_model");
    check_against(&mut Predictor::load_host(&path).unwrap(), &expected, "load_host");
    check_against(&mut Predictor::load(&path, &device()).unwrap(), &expected, "load (burn)");
}

#[test]
fn checkpoint_v3_fixture_loads_and_predicts_what_it_predicted_when_written() {
    check_fixture(3);
}

#[test]
fn checkpoint_v4_fixture_loads_and_predicts_what_it_predicted_when_written() {
    check_fixture(4);
}

/// Trains the fixture of the current version (GRU, hidden 4, one epoch on a tiny dataset; the
/// encoding's base is the linear autoregressive one, so its coefficients are in the file too)
/// through the library as `trajrnn train` does, and records its predictions on held-out frames.
fn write_fixture(out: &Path) {
    let dir = tempdir();
    let config = RunConfig {
        dataset: write_dataset(dir.path(), &[60, 60, 60]),
        run_dir: dir.path().join("run"),
        backend: "flex".into(),
        model: ModelSection { cell: CellKind::Gru, hidden: 4, layers: 1, dropout: 0.0, members: 1 },
        // Every setting that shapes the file is spelled out, so that changed defaults do not
        // change what this program writes.
        data: DataSection {
            context: 8,
            stride: 4,
            resample: true,
            split: SplitConfig {
                mode: SplitMode::Episodes,
                valid_fraction: 0.2,
                test_fraction: 0.2,
                gap: 0,
                min_episodes: 10,
                seed: 0,
            },
            encoding: EncodingConfig { target: TargetBase::LinearAr, ..EncodingConfig::default() },
        },
        baselines: BaselineConfig { ar_order: 4, ar_ridge: 1e-3, commands: true },
        train: TrainConfig {
            epochs: 1,
            batch_size: 8,
            learning_rate: 2e-3,
            warmup_steps: 0,
            rollout_steps: 4,
            selection: Selection::Rollout,
            seed: 0,
            ..TrainConfig::default()
        },
        eval: EvalConfig { warmup: 12, horizons: vec![1, 10], stride: 4 },
    };
    let trained = run::train(&config, TrainOptions::default(), &mut run::quiet, None).unwrap();
    assert_eq!(trained.meta.checkpoint_version, CHECKPOINT_VERSION, "a new checkpoint version gets a new fixture");

    std::fs::create_dir_all(out).unwrap();
    let path = out.join(name(CHECKPOINT_VERSION, "ckpt"));
    std::fs::copy(&trained.best_checkpoint, &path).unwrap();
    let frames = held_out_frames();
    let mut predictor = Predictor::load_host(&path).unwrap();
    let (predictions, rollout) = predict(&mut predictor, &frames);
    let expected = Expected {
        about: format!(
            "Written by tests/it/checkpoint_fixture.rs (regenerate_checkpoint_fixture) with trajrnn {}: \
             the frames fed to Predictor::load_host({}) one at a time, its prediction after each, and \
             rollout({ROLLOUT}) after the last.",
            env!("CARGO_PKG_VERSION"),
            name(CHECKPOINT_VERSION, "ckpt")
        ),
        checkpoint: name(CHECKPOINT_VERSION, "ckpt"),
        checkpoint_version: CHECKPOINT_VERSION,
        channels: predictor.channels().to_vec(),
        frames,
        predictions,
        rollout,
    };
    let mut json = serde_json::to_string_pretty(&expected).unwrap();
    json.push('\n');
    std::fs::write(out.join(name(CHECKPOINT_VERSION, "json")), json).unwrap();
}

#[test]
#[ignore = "writes the fixture; see the module documentation"]
fn regenerate_checkpoint_fixture() {
    let scratch = tempdir();
    let out = match std::env::var_os("TRAJRNN_WRITE_FIXTURE") {
        Some(_) => fixtures(),
        None => scratch.path().to_path_buf(),
    };
    write_fixture(&out);
    let (ckpt, json) = (out.join(name(CHECKPOINT_VERSION, "ckpt")), out.join(name(CHECKPOINT_VERSION, "json")));
    let expected: Expected = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    check_against(&mut Predictor::load_host(&ckpt).unwrap(), &expected, "load_host");
    println!("wrote {} and {}", ckpt.display(), json.display());
}
