//! Issue 6, one test per item: no input crashes it, no bad number slips through, nothing the
//! user had is lost. The property-based harness over the same readers is in `fuzz.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use trajrnn::Error;
use trajrnn::checkpoint::{self, DataInfo};
use trajrnn::data::{Dataset, DatasetMeta, Episode};
use trajrnn::model::{CellKind, ModelConfig};

use crate::common::*;

// ---------------------------------------------------------------------------------------------
// Fixtures

/// Sawyer's channel names (7 joints, 2 finger slides) and Panda's, for mismatch tests.
pub const SAWYER: [&str; 9] = [
    "right_j0",
    "right_j1",
    "right_j2",
    "right_j3",
    "right_j4",
    "right_j5",
    "right_j6",
    "r_gripper_l_finger_joint",
    "r_gripper_r_finger_joint",
];
const PANDA: [&str; 9] = [
    "robot0_joint1",
    "robot0_joint2",
    "robot0_joint3",
    "robot0_joint4",
    "robot0_joint5",
    "robot0_joint6",
    "robot0_joint7",
    "gripper0_finger_joint1",
    "gripper0_finger_joint2",
];

/// Smooth motion on `names` (the last two are gripper channels), built in memory.
pub fn synthetic(names: &[&str], episodes: usize, frames: usize) -> Dataset {
    let (joints, gripper) = names.split_at(names.len() - 2);
    let strings = |s: &[&str]| s.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let meta = DatasetMeta::new("synthetic", "test", 50.0, strings(joints), strings(gripper));
    let dim = names.len();
    let episodes = (0..episodes)
        .map(|e| {
            let time = (0..frames).map(|t| t as f64 * 0.02).collect();
            let states = (0..frames * dim)
                .map(|i| {
                    let (t, c) = ((i / dim) as f32 * 0.02, i % dim);
                    (t * (1.0 + 0.1 * c as f32) + e as f32).sin() * if c + 2 >= dim { 0.02 } else { 1.0 }
                })
                .collect();
            Episode::new(format!("episode_{e:03}"), format!("memory/episode_{e:03}"), time, states, dim)
        })
        .collect();
    Dataset::new(meta, episodes, Path::new("memory")).unwrap()
}

/// A small untrained checkpoint for `dataset`, written by `checkpoint::save` as a run would.
pub fn write_checkpoint(dataset: &Dataset, path: &Path, optimizer: Option<&[u8]>) {
    let prepared = crate::training::prepare_by_episode(dataset);
    let config = ModelConfig {
        cell: CellKind::Lstm,
        input_dim: prepared.encoding.input_dim(),
        hidden: 4,
        layers: 1,
        output_dim: dataset.dim(),
        dropout: 0.0,
        zero_head: false,
        members: 1,
    };
    let model = config.init(&device(), 0);
    let meta = crate::training::meta_for(&model, &prepared, dataset);
    checkpoint::save(path, &model, &meta, optimizer).unwrap();
}

/// The parts of a checkpoint file: JSON header and the sections after its checksum.
pub fn split_checkpoint(bytes: &[u8]) -> (serde_json::Value, Vec<u8>) {
    let len = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
    (serde_json::from_slice(&bytes[16..16 + len]).unwrap(), bytes[16 + len + 8..].to_vec())
}

/// A checkpoint file from a header and the sections, with the header's length and checksum as
/// `checkpoint::save` writes them (so an edit reaches the checks behind the checksum).
pub fn join_checkpoint(header: &serde_json::Value, body: &[u8]) -> Vec<u8> {
    let header = serde_json::to_vec_pretty(header).unwrap();
    let mut out = b"TRAJRNN2".to_vec();
    out.extend((header.len() as u64).to_le_bytes());
    out.extend(checkpoint::checksum(&header).to_le_bytes());
    out.splice(16..16, header);
    out.extend(body);
    out
}

/// Rewrites the JSON header of the checkpoint at `path` with `edit`.
fn edit_header(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let (mut header, body) = split_checkpoint(&std::fs::read(path).unwrap());
    edit(&mut header);
    std::fs::write(path, join_checkpoint(&header, &body)).unwrap();
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for p in parts {
        assert!(message.contains(p), "error `{message}` does not mention `{p}`");
    }
}

fn load_error(path: &Path) -> String {
    checkpoint::load(path, &device()).map(|_| ()).expect_err("damaged checkpoint must be refused").to_string()
}

/// A 9-channel checkpoint in `dir`, and its path.
fn sawyer_checkpoint(dir: &Path) -> PathBuf {
    let path = dir.join("best.ckpt");
    write_checkpoint(&synthetic(&SAWYER, 3, 120), &path, None);
    path
}

// ---------------------------------------------------------------------------------------------
// Panics and aborts

#[test]
fn checkpoint_header_length_of_2_pow_64_minus_1_is_an_error_naming_the_file() {
    let dir = tempdir();
    let path = sawyer_checkpoint(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    assert_mentions(&load_error(&path), &[&path.display().to_string(), "header length 18446744073709551615"]);
    // One past what follows, and exactly what follows (no room for the sections), too.
    let rest = (bytes.len() - 16) as u64;
    for len in [rest + 1, rest] {
        bytes[8..16].copy_from_slice(&len.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        assert_mentions(&load_error(&path), &[&path.display().to_string()]);
    }
}

/// The sizes a header implies are checked against the file before anything is allocated: the
/// test binary's allocator (see main.rs) refuses any single allocation above 1 GiB, so the
/// 512 GB that hidden = 16384 × 64 layers implies would abort this test.
#[test]
fn checkpoint_header_with_huge_sizes_is_refused_before_allocating() {
    let dir = tempdir();
    let path = sawyer_checkpoint(dir.path());
    let original = std::fs::read(&path).unwrap();
    edit_header(&path, |h| h["model"]["hidden"] = 100_000.into());
    assert_mentions(&load_error(&path), &[&path.display().to_string(), "`model`", "hidden", "100000"]);

    std::fs::write(&path, &original).unwrap();
    edit_header(&path, |h| {
        h["model"]["hidden"] = trajrnn::model::MAX_HIDDEN.into();
        h["model"]["layers"] = trajrnn::model::MAX_LAYERS.into();
    });
    assert_mentions(&load_error(&path), &[&path.display().to_string(), "weights section holds"]);

    // A section length past the end of the file.
    std::fs::write(&path, &original).unwrap();
    edit_header(&path, |h| h["sections"][0]["bytes"] = u64::MAX.into());
    assert_mentions(&load_error(&path), &[&path.display().to_string(), "truncated or damaged"]);
}

#[test]
fn checkpoint_encoding_with_3_of_9_channels_is_refused_at_load() {
    let dir = tempdir();
    let path = sawyer_checkpoint(dir.path());
    let original = std::fs::read(&path).unwrap();
    for field in ["mean", "std", "velocity_std", "acceleration_std", "target_std"] {
        std::fs::write(&path, &original).unwrap();
        edit_header(&path, |h| h["encoding"][field].as_array_mut().unwrap().truncate(3));
        assert_mentions(
            &load_error(&path),
            &[&path.display().to_string(), "`encoding`", field, "3 entries for 9 channels"],
        );
    }
    // 1e39 is finite in JSON but not as an f32; a zero std would divide by zero.
    for (value, what) in [(serde_json::json!(1e39), "non-finite"), (serde_json::json!(0.0), "`encoding`")] {
        std::fs::write(&path, &original).unwrap();
        edit_header(&path, |h| h["encoding"]["std"][4] = value);
        assert_mentions(&load_error(&path), &[&path.display().to_string(), what]);
    }
}

/// The encoding's linear base is checked as its baselines are: an order whose coefficient count
/// overflows is refused (it was an arithmetic overflow panic).
#[test]
fn checkpoint_encoding_linear_base_of_order_2_pow_62_is_refused_at_load() {
    let dir = tempdir();
    let path = sawyer_checkpoint(dir.path());
    edit_header(&path, |h| h["encoding"]["ar"]["order"] = (1u64 << 62).into());
    assert_mentions(&load_error(&path), &[&path.display().to_string(), "`encoding`", "order 4611686018427387904"]);
}

/// The rest of the header is checked as strictly: the linear baseline it carries (scored by
/// `trajrnn eval`, which indexed its coefficients by these sizes) and a resumed run's state.
#[test]
fn checkpoint_baseline_and_training_state_are_checked_at_load() {
    let dir = tempdir();
    let ds = synthetic(&SAWYER, 3, 120);
    let path = dir.path().join("best.ckpt");
    write_checkpoint(&ds, &path, None);
    checkpoint::load(&path, &device()).unwrap();
    let original = std::fs::read(&path).unwrap();
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 5] = [
        ("baselines", |h| h["baselines"]["linear_ar"]["scale"].as_array_mut().unwrap().truncate(3)),
        ("baselines", |h| h["baselines"]["channel_ar"]["order"] = 3.into()),
        ("baselines", |h| h["baselines"]["linear_ar"]["coefficients"].as_array_mut().unwrap().pop().map(drop).unwrap()),
        ("baselines", |h| h["baselines"]["linear_ar"]["joint"] = false.into()),
        ("window", |h| h["window"]["context"] = u64::MAX.into()),
    ];
    for (column, edit) in edits {
        std::fs::write(&path, &original).unwrap();
        edit_header(&path, edit);
        assert_mentions(&load_error(&path), &[&path.display().to_string(), &format!("`{column}`")]);
        // The command refuses it too, without a panic.
        synthetic(&SAWYER, 2, 120).save(&dir.path().join("ds"), &[]).ok();
        let out = trajrnn(dir.path(), &["eval", "--checkpoint", "best.ckpt", "--dataset", "ds"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    }
    // A resumed run multiplies its learning rate by lr_scale.
    let last = dir.path().join("last.ckpt");
    write_checkpoint(&ds, &last, Some(b"optimizer"));
    edit_header(&last, |h| {
        h["training"] = serde_json::json!({"epoch": 1, "step": 3, "lr_scale": -1.0, "rollbacks": 0, "best_epoch": 1,
            "best_score": 0.5, "epochs_without_improvement": 0, "history": []});
    });
    assert_mentions(&load_error(&last), &["`training`", "lr_scale", "-1"]);
}

/// A checkpoint applied to data with other channels is refused before any window is cut.
#[test]
fn checkpoint_on_data_with_other_channels_is_a_mismatch_listing_both() {
    let dir = tempdir();
    let ckpt = sawyer_checkpoint(dir.path());
    for (name, channels) in [("eight", &SAWYER[1..]), ("panda", &PANDA[..])] {
        let root = dir.path().join(name);
        synthetic(channels, 2, 120).save(&root, &[]).unwrap();
        let e =
            trajrnn::run::apply_checkpoint(&ckpt, &root, &device(), &mut trajrnn::run::quiet).map(|_| ()).unwrap_err();
        let Error::Mismatch(message) = &e else { panic!("expected Error::Mismatch, got {e}") };
        assert_mentions(message, &[&format!("dataset ({})", channels.len()), "model   (9)", channels[0], SAWYER[0]]);
        // The command says the same, and does not panic.
        let out = trajrnn(dir.path(), &["eval", "--checkpoint", "best.ckpt", "--dataset", name]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_mentions(&stderr(&out), &["channels differ", channels[0], SAWYER[0]]);
    }
    // Same names, other roles (a joint that the data calls a gripper channel).
    let mut ds = synthetic(&SAWYER, 2, 120);
    let moved = ds.meta.joints.pop().unwrap();
    ds.meta.gripper.insert(0, moved);
    let e = DataInfo::of(&synthetic(&SAWYER, 2, 120), false).matching(&ds).map(|_| ()).unwrap_err();
    assert!(matches!(e, Error::Mismatch(_)), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Silent acceptances

fn dataset_with(dir: &Path, meta: &str, csv: &str) -> PathBuf {
    let root = write_dataset(dir, &[10]);
    std::fs::write(root.join("dataset.json"), meta).unwrap();
    std::fs::write(root.join("episodes/episode_000.csv"), csv).unwrap();
    root
}

#[test]
fn joints_declared_in_degrees_are_converted_to_radians() {
    let dir = tempdir();
    let meta = META.replace("\"gripper\"", "\"units\": {\"joints\": \"deg\"},\n  \"gripper\"");
    let root = dataset_with(dir.path(), &meta, "time,j0,j1,g\n0,90,-45,0.5\n0.1,180,30,0.25\n0.2,-360,0,0.125\n");
    let ds = Dataset::load(&root).unwrap();
    let e = &ds.episodes[0];
    let rad = |d: f32| d.to_radians();
    assert_eq!(e.frame(0), [rad(90.0), rad(-45.0), 0.5]); // the gripper is not an angle
    assert_eq!(e.frame(1), [rad(180.0), rad(30.0), 0.25]);
    assert_eq!(e.frame(2), [rad(-360.0), 0.0, 0.125]);
    assert_eq!(ds.meta.units.joints, trajrnn::data::dataset::AngleUnit::Radians);
    assert!(ds.warnings.iter().any(|w| w.contains("converted to radians")), "{:?}", ds.warnings);
    // Converted values far below 3π: no "looks like degrees" warning.
    assert!(!ds.warnings.iter().any(|w| w.contains("looks like degrees")), "{:?}", ds.warnings);
}

#[test]
fn radian_channel_with_degree_sized_values_warns_naming_the_column() {
    let dir = tempdir();
    let root = dataset_with(dir.path(), META, "time,j0,j1,g\n0,0.5,90,0\n0.1,0.6,120,0\n0.2,0.7,150,0\n");
    let ds = Dataset::load(&root).unwrap();
    let suspects: Vec<&String> = ds.warnings.iter().filter(|w| w.contains("looks like degrees")).collect();
    assert_eq!(suspects.len(), 1, "{:?}", ds.warnings);
    assert_mentions(suspects[0], &["dataset.json", "`j1`", "150.0"]);
}

#[test]
fn values_that_do_not_fit_f32_are_rejected_naming_the_cell() {
    for (value, ok) in [("1e39", false), ("-1e39", false), ("3.5e38", false), ("3.4e38", true), ("1e-50", true)] {
        let dir = tempdir();
        let root = dataset_with(dir.path(), META, &format!("time,j0,j1,g\n0,0,0,0\n0.1,0,{value},0\n0.2,0,0,0\n"));
        match Dataset::load(&root) {
            Ok(ds) => assert!(ok && ds.episodes[0].states.iter().all(|v| v.is_finite()), "{value} accepted"),
            Err(e) => {
                assert!(!ok, "{value}: {e}");
                assert_mentions(&e.to_string(), &["episode_000.csv:3", "column `j1`", value, "32-bit float"]);
            }
        }
    }
    // In-memory data (an importer) gets the same check, by frame.
    let mut ds = synthetic(&SAWYER, 2, 10);
    ds.episodes[1].states[5 * 9 + 2] = f32::INFINITY;
    let e = Dataset::new(ds.meta.clone(), ds.episodes, Path::new("import.h5")).map(|_| ()).unwrap_err().to_string();
    assert_mentions(&e, &["memory/episode_001, frame 5, column `right_j2`", "not finite"]);
}

/// The `trajrnn` binary: cargo's, or `TRAJRNN_BIN` where several checkouts share one target
/// folder (and so one `target/debug/trajrnn`).
fn bin() -> PathBuf {
    std::env::var_os("TRAJRNN_BIN").map_or_else(|| env!("CARGO_BIN_EXE_trajrnn").into(), PathBuf::from)
}

/// The `trajrnn` command, run in `dir`.
pub fn trajrnn<S: AsRef<std::ffi::OsStr>>(dir: &Path, args: &[S]) -> Output {
    Command::new(bin()).args(args).current_dir(dir).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Flags for a short training run of `ds` into `run`; `changes` replace a default or add a
/// flag (a switch such as `--overwrite` with an empty value).
fn train_args(ds: &str, run: &str, changes: &[(&str, &str)]) -> Vec<String> {
    let defaults = [("--epochs", "2"), ("--hidden", "8"), ("--context", "16"), ("--batch-size", "16")];
    let mut flags: Vec<(&str, &str)> = [("--dataset", ds), ("--run-dir", run)].into_iter().chain(defaults).collect();
    flags.extend([("--warmup", "16"), ("--horizons", "1,10")]);
    for &(flag, value) in changes {
        match flags.iter_mut().find(|(f, _)| *f == flag) {
            Some(f) => f.1 = value,
            None => flags.push((flag, value)),
        }
    }
    let words = flags.into_iter().flat_map(|(f, v)| [f, v]).filter(|w| !w.is_empty());
    std::iter::once("train").chain(words).map(String::from).collect()
}

/// The run failed with our error (exit 1, not clap's 2 or a panic's 101) naming `parts`, and
/// no epoch ran.
fn assert_refused_before_training(out: &Output, parts: &[&str]) {
    assert_eq!(out.status.code(), Some(1), "stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out));
    assert_mentions(&stderr(out), parts);
    assert!(!stdout(out).contains("epoch "), "an epoch ran:\n{}", stdout(out));
}

#[test]
fn numeric_options_are_checked_before_any_work() {
    let dir = tempdir();
    write_dataset(dir.path(), &[300, 300, 300]);
    let m = u64::MAX.to_string();
    for (flag, value, option) in [
        ("--lr", "-1", "--lr"),
        ("--lr", "nan", "--lr"),
        ("--lr", "inf", "--lr"),
        ("--lr", "0", "--lr"),
        ("--clip", "nan", "--clip"),
        ("--clip", "-1", "--clip"),
        ("--dropout", "nan", "--dropout"),
        ("--val-fraction", "nan", "--valid-fraction"),
        ("--test-fraction", "1.5", "--test-fraction"),
        ("--epochs", m.as_str(), "--epochs"),
        ("--context", m.as_str(), "--context"),
        ("--stride", m.as_str(), "--stride"),
        ("--gap", m.as_str(), "--gap"),
        ("--tbptt", m.as_str(), "--tbptt"),
        ("--warmup-steps", m.as_str(), "--warmup-steps"),
        ("--patience", m.as_str(), "--patience"),
        ("--batch-size", m.as_str(), "--batch-size"),
        ("--warmup", m.as_str(), "--warmup"),
        ("--horizons", m.as_str(), "--horizons"),
        ("--eval-stride", m.as_str(), "--eval-stride"),
    ] {
        let out = trajrnn(dir.path(), &train_args("ds", "run", &[(flag, value)]));
        assert_refused_before_training(&out, &[option]);
        assert!(stderr(&out).to_lowercase().contains(value), "{flag} {value}: {}", stderr(&out));
        assert!(!dir.path().join("run").exists(), "{flag} {value}: the run folder was created");
    }
}

/// Found while checking the other commands: `rollout --horizon 1000000000000` asked for a
/// 36 TB buffer ("memory allocation failed", an abort). A horizon longer than the episode
/// predicts what the episode holds.
#[cfg(feature = "rerun")]
#[test]
fn rollout_with_a_huge_horizon_does_not_abort() {
    let dir = tempdir();
    write_dataset(dir.path(), &[300, 300, 300]);
    assert!(trajrnn(dir.path(), &train_args("ds", "run", &[])).status.success());
    let common = ["rollout", "--checkpoint", "run/best.ckpt", "--dataset", "ds", "--out", "r.rrd"];
    for horizon in ["1000000000000", &u64::MAX.to_string()] {
        let out = trajrnn(dir.path(), &[&common[..], &["--horizon", horizon]].concat());
        assert!(out.status.success(), "--horizon {horizon}: {}", stderr(&out));
    }
}

/// A checkpoint holding a NaN (or infinite) weight is refused, naming the tensor.
#[test]
fn checkpoint_with_non_finite_weight_is_refused() {
    use burn::module::Param;
    use burn::prelude::*;
    let dir = tempdir();
    let ds = synthetic(&SAWYER, 3, 120);
    let path = dir.path().join("nan.ckpt");
    write_checkpoint(&ds, &path, None);
    let ck = checkpoint::load(&path, &device()).unwrap();
    for bad in [f32::NAN, f32::INFINITY] {
        let mut model = ck.model.clone();
        let mut w = model.head.weight.val().into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        w[3] = bad;
        let shape = model.head.weight.shape();
        model.head.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, shape), &device()));
        checkpoint::save(&path, &model, &ck.meta, None).unwrap();
        assert_mentions(&load_error(&path), &[&path.display().to_string(), "non-finite"]);
    }
}

/// Found by the fuzzer: a damaged weight that is still finite loaded silently (and could make
/// the model predict infinity). Each section carries a checksum; a one-bit change is refused.
#[test]
fn checkpoint_with_a_flipped_weight_bit_is_refused() {
    let dir = tempdir();
    let path = dir.path().join("best.ckpt");
    write_checkpoint(&synthetic(&SAWYER, 3, 120), &path, Some(b"optimizer state"));
    let ck = checkpoint::load(&path, &device()).unwrap();
    let first = ck.model.layers[0].w_x.val().into_data().convert::<f32>().try_into_vec::<f32>().unwrap()[0];
    let bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(4).position(|w| w == first.to_le_bytes()).expect("the weight is stored as is");
    for (offset, section) in [(at, "weights"), (bytes.len() - 1, "optimizer")] {
        let mut damaged = bytes.clone();
        damaged[offset] ^= 1; // the lowest mantissa bit: still a finite, plausible weight
        std::fs::write(&path, &damaged).unwrap();
        assert_mentions(
            &load_error(&path),
            &[&path.display().to_string(), &format!("`{section}` section"), "checksum"],
        );
    }
}

fn epoch(epoch: usize, valid_loss: f64) -> trajrnn::train::EpochStats {
    trajrnn::train::EpochStats {
        epoch,
        train_loss: Some(0.5),
        valid_loss,
        valid_score: valid_loss,
        grad_norm: Some(1.0),
        clipped: Some(0.0),
        steps: 3,
        rollbacks: 0,
        lr: 1e-3,
        seconds: 0.1,
    }
}

/// Found by the fuzzer: a last.ckpt whose training state lost its best epoch resumed into "no
/// epoch had a finite validation loss; lower the learning rate". The state is checked at load;
/// and an epoch whose validation loss really was NaN (JSON has no NaN) still round-trips.
#[test]
fn checkpoint_training_state_is_consistent_and_round_trips_nan() {
    let dir = tempdir();
    let path = dir.path().join("last.ckpt");
    write_checkpoint(&synthetic(&SAWYER, 3, 120), &path, Some(b"optimizer state"));
    let ck = checkpoint::load(&path, &device()).unwrap();
    let state = |best: Option<usize>, history: Vec<trajrnn::train::EpochStats>| trajrnn::train::TrainingState {
        epoch: history.len(),
        step: 3 * history.len(),
        lr_scale: 1.0,
        rollbacks: 0,
        best_epoch: best,
        best_score: best.and_then(|b| history.get(b - 1)).map(|h| h.valid_score),
        initial_score: None,
        epochs_without_improvement: 0,
        history,
    };
    let save = |training| {
        let meta = checkpoint::CheckpointMeta { training: Some(training), ..ck.meta.clone() };
        checkpoint::save(&path, &ck.model, &meta, ck.optimizer.as_deref()).unwrap();
    };
    // Epoch 1 diverged in validation (NaN), epoch 2 is the best.
    save(state(Some(2), vec![epoch(1, f64::NAN), epoch(2, 0.25)]));
    let loaded = checkpoint::load(&path, &device()).unwrap().meta.training.unwrap();
    assert!(loaded.history[0].valid_loss.is_nan() && loaded.history[1].valid_loss == 0.25);
    for (training, what) in [
        (state(None, vec![epoch(1, 0.5)]), "best_epoch"), // a finite epoch is always a best one
        (state(Some(2), vec![epoch(1, 0.5)]), "best_epoch"),
        (trajrnn::train::TrainingState { epoch: 5, ..state(Some(1), vec![epoch(1, 0.5)]) }, "history"),
        (trajrnn::train::TrainingState { best_score: Some(0.1), ..state(Some(1), vec![epoch(1, 0.5)]) }, "best_score"),
    ] {
        save(training);
        assert_mentions(&load_error(&path), &[&path.display().to_string(), "`training`", what]);
    }
}

/// Found by the fuzzer: burn's optimiser decoder panics on a state tensor without a parameter
/// id ("Optimizer record tensors should carry a parameter id") and on a parameter rank it has
/// no state type for ("Unsupported tensor rank for optimizer state: 10"); a state tensor of
/// another shape or rank than its parameter loads and panics at the first step. Resuming
/// refuses all of them.
#[test]
fn resuming_from_a_damaged_optimizer_state_is_an_error() {
    use burn_pack::{Bytes, Reader, Tensor, Writer};
    use trajrnn::run::{RunEvent, TrainOptions, train_dataset};
    use trajrnn::train::Event;
    let s = crate::training::setup();
    let dir = tempdir();
    let config = crate::training::run_config(&s, dir.path(), crate::training::config(2, 0));
    let mut stop_after_1 = |e: RunEvent| match e {
        RunEvent::Train(Event::Epoch { .. }) => std::ops::ControlFlow::Break(()),
        _ => std::ops::ControlFlow::Continue(()),
    };
    train_dataset(&config, s.dataset.clone(), TrainOptions::default(), &mut stop_after_1, None).unwrap();
    let last = dir.path().join("last.ckpt");
    let ck = checkpoint::load(&last, &device()).unwrap();
    let state = Reader::from_bytes(Bytes::from_bytes_vec(ck.optimizer.clone().unwrap())).unwrap();
    let (scalars, paths) = (state.scalars().clone(), state.metadata().clone());
    let mut tensors = state.into_tensors().unwrap();
    let k = tensors.iter().position(|t| t.shape.num_elements() >= 4).unwrap();
    let (name, dtype, shape, id, bytes) = tensors.remove(k).into_parts().unwrap();
    let n = shape.num_elements() / 2;
    let half = Bytes::from_bytes_vec(bytes[..n * 4].to_vec());
    let intact = Tensor::new(name.clone(), dtype, shape.clone(), id, bytes.clone());
    let rank_key = scalars.keys().find(|k| k.ends_with(".__rank")).unwrap().clone();
    let with_rank = |rank: usize| {
        let mut s = scalars.clone();
        s.insert(rank_key.clone(), rank.into());
        s
    };
    for (damaged, scalars, what) in [
        (Tensor::new(name.clone(), dtype, shape.clone(), None, bytes.clone()), scalars.clone(), "no parameter"),
        (Tensor::new(name.clone(), dtype, [n], id, half), scalars.clone(), "shape"),
        (intact.clone(), with_rank(10), "rank"),
        (intact.clone(), with_rank(3), "rank"),
    ] {
        // The whole state, with that one tensor or scalar damaged.
        let mut writer = Writer::new([tensors.clone(), vec![damaged]].concat());
        for (key, value) in &scalars {
            writer = writer.with_scalar(key, *value);
        }
        for (key, value) in &paths {
            writer = writer.with_metadata(key, value);
        }
        let optimizer = writer.into_bytes().unwrap();
        checkpoint::save(&last, &ck.model, &ck.meta, Some(&optimizer)).unwrap();
        let resume = TrainOptions { resume: true, ..TrainOptions::default() };
        let e = train_dataset(&config, s.dataset.clone(), resume, &mut trajrnn::run::quiet, None)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert_mentions(&e, &[&last.display().to_string(), "optimiser", what]);
    }
}

// ---------------------------------------------------------------------------------------------
// Checked too late: every input and output path before the first epoch

/// A two-joint arm whose joints are the channels of `common::META`, with end effector `ee`.
pub const ROBOT_XML: &str = r#"<mujoco model="t"><worldbody>
  <body name="b0"><joint name="j0" axis="0 0 1"/>
    <body name="b1" pos="0 0 0.3"><joint name="j1" axis="0 1 0"/><site name="ee" pos="0 0 0.2"/></body>
  </body>
</worldbody></mujoco>"#;

fn dataset_with_robot(dir: &Path, robot_xml: Option<&str>) {
    let root = write_dataset(dir, &[300, 300, 300]);
    let meta = META.replace(
        "\"gripper\"",
        "\"robot_description\": {\"format\": \"mjcf\", \"path\": \"robot.xml\", \"end_effector\": \"ee\"},\n  \"gripper\"",
    );
    std::fs::write(root.join("dataset.json"), meta).unwrap();
    if let Some(xml) = robot_xml {
        std::fs::write(root.join("robot.xml"), xml).unwrap();
    }
}

#[test]
fn robot_description_is_checked_before_training() {
    let dir = tempdir();
    dataset_with_robot(dir.path(), Some(ROBOT_XML));
    let ok = trajrnn(dir.path(), &train_args("ds", "run", &[]));
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("epoch   1"));
    for (xml, what) in [
        (None, "No such file"),
        (Some("<mujoco><worldbody><body"), "not valid XML"),
        (Some(&ROBOT_XML.replace("\"ee\"", "\"tip\"")), "no site named \"ee\""),
        (Some(&ROBOT_XML.replace("0 0 0.3", "0 0 nan")), "not finite"),
    ] {
        let dir = tempdir();
        dataset_with_robot(dir.path(), xml);
        let out = trajrnn(dir.path(), &train_args("ds", "run", &[]));
        assert_refused_before_training(&out, &["ds/robot.xml", what]);
    }
}

/// Found while checking for aborts: bodies nested 200 000 deep overflowed the stack (an abort,
/// "fatal runtime error: stack overflow") in the recursive MJCF reader.
#[test]
fn deeply_nested_robot_description_is_an_error_not_a_stack_overflow() {
    let n = 200_000;
    let xml = format!("<mujoco><worldbody>{}{}</worldbody></mujoco>", "<body>".repeat(n), "</body>".repeat(n));
    let e = trajrnn::kinematics::RobotModel::from_mjcf_str(&xml, Path::new("robot.xml")).map(|_| ()).unwrap_err();
    assert_mentions(&e.to_string(), &["robot.xml", "nested deeper than"]);
}

/// A folder we cannot write into. Root writes into read-only folders anyway, so there the
/// parent is a regular file instead (no folder can be created under it either).
fn unwritable_parent(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let parent = dir.join("read-only");
    std::fs::create_dir(&parent).unwrap();
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(parent.join("probe"), b"").is_ok() {
        std::fs::remove_file(parent.join("probe")).unwrap();
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::remove_dir(&parent).unwrap();
        std::fs::write(&parent, b"a file, not a folder").unwrap();
    }
    parent
}

#[test]
fn unwritable_run_dir_is_reported_before_training() {
    let dir = tempdir();
    write_dataset(dir.path(), &[300, 300, 300]);
    unwritable_parent(dir.path());
    let out = trajrnn(dir.path(), &train_args("ds", "read-only/run", &[]));
    assert_refused_before_training(&out, &["read-only"]);
    std::fs::write(dir.path().join("plain-file"), b"").unwrap();
    let out = trajrnn(dir.path(), &train_args("ds", "plain-file", &[]));
    assert_refused_before_training(&out, &["plain-file", "not a folder"]);
}

/// `--out` (rollout) and `--report` (eval) are checked before the checkpoint is even read: the
/// checkpoint named here does not exist, so any other error means the order is wrong.
#[test]
fn unwritable_outputs_are_reported_before_any_work() {
    let dir = tempdir();
    write_dataset(dir.path(), &[300, 300, 300]);
    unwritable_parent(dir.path());
    std::fs::create_dir(dir.path().join("a-folder")).unwrap();
    let common = ["--checkpoint", "missing.ckpt", "--dataset", "ds"];
    for (out_path, what) in [("a-folder", "is a folder"), ("read-only/x.out", "read-only")] {
        #[cfg(feature = "rerun")]
        {
            let out = trajrnn(dir.path(), &[&["rollout", "--out", out_path][..], &common].concat());
            assert_refused_before_training(&out, &[what]);
            assert!(!stderr(&out).contains("missing.ckpt"), "{}", stderr(&out));
        }
        let out = trajrnn(dir.path(), &[&["eval", "--report", out_path][..], &common].concat());
        assert_refused_before_training(&out, &[what]);
        assert!(!stderr(&out).contains("missing.ckpt"), "{}", stderr(&out));
    }
}

// ---------------------------------------------------------------------------------------------
// Nothing lost, nothing left behind

/// Temporary files (`.<name>.<pid>.<random>.tmp`) in `dir`.
fn temp_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.ends_with(".tmp"))
        .collect();
    names.sort();
    names
}

/// The pid of a process that has ended (so its temporary files are stale).
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// Every file of a run that is present is whole: checkpoints load, eval.json parses.
fn assert_run_files_whole(run: &Path) {
    for name in ["best.ckpt", "last.ckpt"] {
        let path = run.join(name);
        if path.exists() {
            checkpoint::load(&path, &device()).unwrap_or_else(|e| panic!("{name} does not load: {e}"));
        }
    }
    if let Ok(text) = std::fs::read_to_string(run.join("eval.json")) {
        serde_json::from_str::<serde_json::Value>(&text).expect("eval.json parses");
    }
    if let Ok(text) = std::fs::read_to_string(run.join("config.toml")) {
        trajrnn::RunConfig::parse(&text, &run.join("config.toml")).expect("config.toml parses");
    }
}

/// Temporary files stranded by dead writers, of any output of a run, are removed by the next
/// run; those of a live writer are left alone.
#[test]
fn stale_temporary_files_are_removed_by_the_next_run() {
    let dir = tempdir();
    write_dataset(dir.path(), &[300, 300, 300]);
    let run = dir.path().join("run");
    let out = trajrnn(dir.path(), &train_args("ds", "run", &[]));
    assert!(out.status.success(), "{}", stderr(&out));
    let dead = dead_pid();
    let live = std::process::id(); // this test process: alive while the command runs
    let names = ["best.ckpt", "last.ckpt", "eval.json", "log.csv", "config.toml", "rollout.rrd"];
    for name in names {
        std::fs::write(run.join(format!(".{name}.{dead}.AbC123.tmp")), b"half a file").unwrap();
    }
    std::fs::write(run.join(format!(".last.ckpt.{live}.XyZ789.tmp")), b"being written").unwrap();
    // Resuming the finished run writes only eval.json, and still sweeps every stale file.
    let out = trajrnn(dir.path(), &["train", "--resume", "run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(temp_files(&run), [format!(".last.ckpt.{live}.XyZ789.tmp")]);
    // A recording's folder is swept when the recording is written.
    #[cfg(feature = "rerun")]
    {
        std::fs::write(dir.path().join(format!(".rollout.rrd.{dead}.AbC123.tmp")), b"half").unwrap();
        let out = trajrnn(dir.path(), &["rollout", "--checkpoint", "run/best.ckpt", "--dataset", "ds"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(temp_files(dir.path()), Vec::<String>::new());
    }
}

/// `kill -9` at random moments, and right while a checkpoint is being written: every file that
/// is present stays whole, and the next run leaves no temporary file behind.
#[test]
fn a_killed_writer_loses_nothing_and_its_temporary_files_are_cleaned() {
    let dir = tempdir();
    write_dataset(dir.path(), &[300, 300, 300]);
    let run = dir.path().join("run");
    // A model large enough that a checkpoint write takes a moment.
    let changes = [("--epochs", "1000"), ("--hidden", "96"), ("--patience", "none"), ("--overwrite", "")];
    let args = train_args("ds", "run", &changes);
    let mut stranded = 0;
    for round in 0..8 {
        let mut child = Command::new(bin())
            .args(&args)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        // Even rounds: as soon as a checkpoint's temporary file appears; odd rounds: at a set time.
        let deadline = std::time::Duration::from_millis(150 * round as u64);
        loop {
            let writing = temp_files(&run).iter().any(|n| n.contains(".ckpt."));
            if (round % 2 == 0 && writing) || (round % 2 == 1 && started.elapsed() >= deadline) {
                break;
            }
            assert!(child.try_wait().unwrap().is_none(), "the run ended before it was killed");
            assert!(started.elapsed().as_secs() < 60, "no checkpoint write seen");
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        stranded += !temp_files(&run).is_empty() as usize;
        assert_run_files_whole(&run);
    }
    assert!(stranded > 0, "no kill landed during a write; the test did not test anything");
    let out = trajrnn(dir.path(), &train_args("ds", "run", &[("--overwrite", "")]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_run_files_whole(&run);
    assert_eq!(temp_files(&run), Vec::<String>::new());
}

/// Files are created with the user's umask, like any other file the user writes.
#[cfg(unix)]
#[test]
fn outputs_are_created_with_the_users_umask() {
    use std::os::unix::fs::PermissionsExt;
    for (umask, mode) in [("022", 0o644), ("077", 0o600)] {
        let dir = tempdir();
        write_dataset(dir.path(), &[300, 300, 300]);
        let with_umask = |args: &[String]| {
            Command::new("sh")
                .arg("-c")
                .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
                .arg(bin())
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap()
        };
        let out = with_umask(&train_args("ds", "run", &[]));
        assert!(out.status.success(), "{}", stderr(&out));
        let mut files: Vec<PathBuf> = ["best.ckpt", "last.ckpt", "eval.json", "log.csv", "config.toml"]
            .iter()
            .map(|f| dir.path().join("run").join(f))
            .collect();
        let eval = ["eval", "--checkpoint", "run/best.ckpt", "--dataset", "ds", "--report", "report.json"];
        let out = with_umask(&eval.map(String::from));
        assert!(out.status.success(), "{}", stderr(&out));
        files.push(dir.path().join("report.json"));
        #[cfg(feature = "rerun")]
        {
            let rollout = ["rollout", "--checkpoint", "run/best.ckpt", "--dataset", "ds", "--out", "r.rrd"];
            let out = with_umask(&rollout.map(String::from));
            assert!(out.status.success(), "{}", stderr(&out));
            files.push(dir.path().join("r.rrd"));
        }
        for f in files {
            let got = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(got, mode, "{} under umask {umask}: {got:o}", f.display());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Smaller

fn csv_error(csv: &[u8]) -> String {
    let dir = tempdir();
    let root = write_dataset(dir.path(), &[50]);
    std::fs::write(root.join("episodes/episode_000.csv"), csv).unwrap();
    Dataset::load(&root).map(|_| ()).expect_err("bad input must be rejected").to_string()
}

#[test]
fn empty_csv_says_the_file_is_empty() {
    for csv in [&b""[..], b"\n", b"\r\n", b"  \n\n"] {
        let e = csv_error(csv);
        assert_mentions(&e, &["episode_000.csv", "empty"]);
        assert!(!e.contains("missing column"), "{e}");
    }
}

/// A 16 MB value, anywhere, gives a short message (that still says where).
#[test]
fn a_16_mb_field_gives_a_short_message() {
    let huge = "9".repeat(16 << 20);
    let word = "x".repeat(16 << 20);
    for csv in [
        format!("time,j0,j1,g\n0,0,0,0\n0.1,0,{word},0\n"),   // not a number
        format!("time,j0,j1,g\n0,0,0,0\n0.1,0,{huge},0\n"),   // too large for f32
        format!("time,j0,j1,g,{word}\n0,0,0,0,0\n"),          // extra column
        format!("time,j0,j1,g,{word},{word}\n0,0,0,0,0,0\n"), // duplicate column
        format!("time,j0,j1,g\n0,0,0,0\n{huge}.5,0,0,0\n1,0,0,0\n"), // time goes back
    ] {
        let e = csv_error(csv.as_bytes());
        assert!(e.len() < 500, "{} bytes: {}…", e.len(), e.chars().take(300).collect::<String>());
        assert_mentions(&e, &["episode_000.csv:"]);
    }
    for json in [
        META.replace("\"tiny\"", &format!("\"{word}\"")).replace("\"trajrnn-trajectories\"", &format!("\"{word}\"")),
        META.replace("\"rate_hz\"", &format!("\"{word}\"")), // unknown key
        META.replace("\"g\"", &format!("\"{word}\", \"{word}\"")), // listed twice
        META.replace("50.0", &huge),
    ] {
        let dir = tempdir();
        let root = dataset_with(dir.path(), &json, &crate::common::episode_csv(10, 0));
        let e = Dataset::load(&root).map(|_| ()).unwrap_err().to_string();
        assert!(e.len() < 500, "{} bytes: {}…", e.len(), e.chars().take(300).collect::<String>());
        assert_mentions(&e, &["dataset.json"]);
    }
}

#[test]
fn reserved_channel_names_are_reported_under_their_field() {
    for (field, json) in [
        ("gripper", META.replace("[\"g\"]", "[\"time\"]")),
        ("joints", META.replace("\"j1\"", "\"phase\"")),
        ("auxiliary", META.replace("\"gripper\"", "\"auxiliary\": [\"time\"],\n  \"gripper\"")),
    ] {
        let dir = tempdir();
        let root = dataset_with(dir.path(), &json, &crate::common::episode_csv(10, 0));
        let e = Dataset::load(&root).map(|_| ()).unwrap_err().to_string();
        assert_mentions(&e, &["dataset.json", &format!("column `{field}`"), "reserved"]);
    }
}

#[test]
fn episode_files_in_any_case_are_read_and_others_are_reported() {
    let dir = tempdir();
    let root = write_dataset(dir.path(), &[]);
    for name in [".CSV", "x.CSV", "y.csv", "z.Csv"] {
        std::fs::write(root.join("episodes").join(name), crate::common::episode_csv(10, name.len())).unwrap();
    }
    std::fs::write(root.join("episodes/notes.txt"), "not an episode").unwrap();
    std::fs::write(root.join("episodes/backup.csv.bak"), "not an episode").unwrap();
    std::fs::create_dir(root.join("episodes/old.csv")).unwrap();
    let ds = Dataset::load(&root).unwrap();
    let names: Vec<&str> = ds.episodes.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, [".CSV", "x", "y", "z"]);
    for skipped in ["notes.txt", "backup.csv.bak", "old.csv"] {
        assert!(
            ds.warnings.iter().any(|w| w.contains(skipped) && w.contains("skipped")),
            "{skipped} not reported: {:?}",
            ds.warnings
        );
    }
}

/// An epoch line says when no step was applied (n/a, not 0) and when the epoch was rolled back.
#[test]
fn epoch_line_shows_skipped_and_rolled_back_steps() {
    use trajrnn::run::console::epoch_line;
    use trajrnn::train::EpochStats;
    let none = EpochStats {
        epoch: 3,
        train_loss: None,
        valid_loss: 0.5,
        valid_score: 0.5,
        grad_norm: None,
        clipped: None,
        steps: 0,
        lr: 1e-3,
        seconds: 1.0,
        rollbacks: 0,
    };
    let line = epoch_line(&none, false);
    assert_mentions(&line, &["train n/a", "|grad| n/a", "clipped  n/a  lr", "0 steps"]);
    assert!(!line.contains("0.000") && !line.contains("rolled back"), "{line}");

    // A run so sensitive to divergence that it rolls back: the epoch that was redone says so.
    let s = crate::training::setup();
    let c = trajrnn::train::TrainConfig { divergence_factor: 1.01, max_rollbacks: 20, ..crate::training::config(2, 0) };
    let mut observer = |_: trajrnn::train::Event| Ok(std::ops::ControlFlow::Continue(()));
    let hooks = trajrnn::train::Hooks { observer: &mut observer, score: None, stop: None };
    let out =
        trajrnn::train::train(&s.model, crate::training::set(&s), &c, &device(), trajrnn::train::Start::Fresh, hooks)
            .unwrap();
    let redone = out.history.iter().find(|h| h.rollbacks > 0).expect("an epoch was rolled back");
    assert_mentions(&epoch_line(redone, false), &[&format!("rolled back {}×", redone.rollbacks)]);
    let clean = EpochStats { rollbacks: 0, ..redone.clone() };
    assert!(!epoch_line(&clean, false).contains("rolled back"));
}
