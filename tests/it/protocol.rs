//! The evaluation protocol cannot leak: no choice touches the test part, `eval` recognises a
//! checkpoint's data by content, and awkward channels are named and treated.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use trajrnn::checkpoint;
use trajrnn::data::channels::{ChannelKind, Treatment};
use trajrnn::data::inspect::{InspectConfig, inspect};
use trajrnn::data::{Dataset, Part, SplitConfig};
use trajrnn::eval::EvalConfig;
use trajrnn::run::{self, PartChoice, RunConfig, RunEvent, TrainOptions};
use trajrnn::train::{Selection, TrainConfig};

use crate::common::*;

/// A dataset of `episodes` × `frames` of (j0, j1, g) whose values are `f(episode, frame,
/// channel)`, timestamps `time(episode, frame)`.
fn custom_dataset(
    root: &Path,
    name: &str,
    episodes: usize,
    frames: usize,
    f: impl Fn(usize, usize, usize) -> f64,
    time: impl Fn(usize, usize) -> f64,
) -> PathBuf {
    std::fs::create_dir_all(root.join("episodes")).unwrap();
    let meta = META.replace("\"tiny\"", &format!("\"{name}\""));
    std::fs::write(root.join("dataset.json"), meta).unwrap();
    for e in 0..episodes {
        let mut csv = String::from("time,j0,j1,g\n");
        for t in 0..frames {
            csv += &format!("{:.6},{:.6},{:.6},{:.6}\n", time(e, t), f(e, t, 0), f(e, t, 1), f(e, t, 2));
        }
        std::fs::write(root.join(format!("episodes/episode_{e:03}.csv")), csv).unwrap();
    }
    root.to_path_buf()
}

/// Smooth motion that differs from episode to episode.
fn motion(e: usize, t: usize, c: usize) -> f64 {
    let x = t as f64 * 0.02 + e as f64 * 0.37;
    match c {
        0 => (1.3 * x).sin(),
        1 => 0.5 * (0.7 * x + 0.2 * e as f64).cos(),
        _ => 0.02 * (0.5 * x).sin().max(0.0),
    }
}

fn regular(_: usize, t: usize) -> f64 {
    t as f64 * 0.02
}

/// A short run of the default recipe on small data: whole episodes from 10 on, short rollouts.
fn config(dataset: &Path, run_dir: &Path) -> RunConfig {
    let mut c = RunConfig { dataset: dataset.to_path_buf(), run_dir: run_dir.to_path_buf(), ..RunConfig::default() };
    c.model.hidden = 12;
    c.data.context = 16;
    c.data.split = SplitConfig { gap: 16, ..SplitConfig::default() };
    c.eval = EvalConfig { warmup: 12, horizons: vec![1, 5, 20], stride: 6 };
    c.train = TrainConfig { epochs: 3, rollout_steps: 4, selection: Selection::Rollout, patience: None, ..c.train };
    c
}

fn train(config: &RunConfig) -> run::TrainedRun {
    run::train(config, TrainOptions::default(), &mut run::quiet, None).unwrap()
}

/// log.csv without its timing column.
fn untimed_log(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').enumerate().filter(|(i, _)| *i != 6).map(|(_, v)| v).collect::<Vec<_>>().join(","))
        .collect()
}

/// Changing only the test episodes (their values and their timing) changes nothing in training:
/// the split, the encoding, the baselines, every logged loss, the best epoch and the weights are
/// bit-identical, and only the test report differs.
#[test]
fn changing_only_the_test_episodes_leaves_training_bit_identical() {
    let dir = tempdir();
    let a_root = custom_dataset(&dir.path().join("a"), "a", 12, 120, motion, regular);
    let a = train(&config(&a_root, &dir.path().join("run_a")));
    assert_eq!(a.prepared.split.kind, trajrnn::data::split::SplitKind::ByEpisode);
    let test: Vec<usize> = a.prepared.split.test.iter().map(|s| s.episode).collect();
    assert!(!test.is_empty());
    // The same dataset with the test episodes scaled, shifted and recorded with jittered
    // timestamps (which makes them irregular: resampled, where the others are not).
    let changed = |e: usize, t: usize, c: usize| {
        if test.contains(&e) { 1.7 * motion(e, t, c) + 0.3 } else { motion(e, t, c) }
    };
    let jittered =
        |e: usize, t: usize| if test.contains(&e) { t as f64 * 0.02 + 0.004 * (t % 2) as f64 } else { regular(e, t) };
    let b_root = custom_dataset(&dir.path().join("b"), "a", 12, 120, changed, jittered);
    let b = train(&config(&b_root, &dir.path().join("run_b")));
    assert_eq!(b.prepared.split, a.prepared.split);
    assert_eq!(b.prepared.encoding, a.prepared.encoding);
    assert_eq!(b.prepared.baselines, a.prepared.baselines);
    assert_eq!(b.outcome.best_epoch, a.outcome.best_epoch);
    assert_eq!(untimed_log(&dir.path().join("run_b")), untimed_log(&dir.path().join("run_a")));
    let scores = |d: &str| {
        let ck = checkpoint::load(&dir.path().join(d).join("last.ckpt"), &device()).unwrap();
        ck.meta.training.unwrap().history.iter().map(|h| h.valid_score.to_bits()).collect::<Vec<_>>()
    };
    assert_eq!(scores("run_a"), scores("run_b"), "the validation scores, bit for bit");
    let ck_a = checkpoint::load(&dir.path().join("run_a/best.ckpt"), &device()).unwrap();
    let ck_b = checkpoint::load(&dir.path().join("run_b/best.ckpt"), &device()).unwrap();
    let values = |m: &trajrnn::model::TrajectoryModel| {
        m.head.weight.val().into_data().try_into_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    };
    assert_eq!(values(&ck_a.model), values(&ck_b.model), "the best weights, bit for bit");
    assert_eq!(ck_a.meta.choice, ck_b.meta.choice, "the baseline choice is made on validation");
    // The test report is where the two differ.
    assert_ne!(a.report.horizons[0].scores[0].arm, b.report.horizons[0].scores[0].arm);
}

/// `eval` recognises the checkpoint's own data by content, whatever the dataset and its files
/// are called: renamed, it still scores the test part only (and says so), and new episodes are
/// scored whole.
#[test]
fn eval_finds_the_test_part_of_renamed_training_data() {
    let dir = tempdir();
    let root = custom_dataset(&dir.path().join("orig"), "original", 12, 120, motion, regular);
    let run_dir = dir.path().join("run");
    let trained = train(&config(&root, &run_dir));
    let test_names: Vec<String> =
        trained.prepared.split.test.iter().map(|s| trained.dataset.episodes[s.episode].name.clone()).collect();
    // Another dataset name, other file names, in another order, plus two unseen episodes.
    let renamed = dir.path().join("renamed");
    std::fs::create_dir_all(renamed.join("episodes")).unwrap();
    std::fs::write(renamed.join("dataset.json"), META.replace("\"tiny\"", "\"something_else\"")).unwrap();
    for (i, e) in (0..12).rev().enumerate() {
        std::fs::copy(
            root.join(format!("episodes/episode_{e:03}.csv")),
            renamed.join(format!("episodes/take_{i:02}.csv")),
        )
        .unwrap();
    }
    custom_dataset(&dir.path().join("new"), "new", 2, 120, |e, t, c| motion(e + 40, t, c), regular);
    for e in 0..2 {
        std::fs::copy(
            dir.path().join(format!("new/episodes/episode_{e:03}.csv")),
            renamed.join(format!("episodes/unseen_{e}.csv")),
        )
        .unwrap();
    }
    let applied = run::apply_checkpoint(&run_dir.join("best.ckpt"), &renamed, &device(), &mut run::quiet).unwrap();
    assert_eq!(applied.recognised_count(), 12);
    let scored = applied.scored(PartChoice::Test).unwrap();
    let scored_names: Vec<&str> =
        scored.segments.iter().map(|s| applied.dataset.episodes[s.episode].name.as_str()).collect();
    assert_eq!(scored.segments.len(), test_names.len() + 2, "{scored_names:?}");
    for s in &scored.segments {
        let records = &applied.recognised[s.episode];
        assert!(records.is_empty() || records.iter().all(|r| r.part == Part::Test), "{scored_names:?}");
    }
    assert!(
        scored.description.contains(&format!("{} episode(s) recognised", test_names.len())),
        "{}",
        scored.description
    );
    assert!(scored.description.contains("2 unseen"), "{}", scored.description);
    // The validation and training parts are there on request, and `all` says it includes them.
    assert!(!applied.scored(PartChoice::Valid).unwrap().segments.is_empty());
    assert!(applied.scored(PartChoice::All).unwrap().description.contains("not a test"));
    // The command line does the same by itself.
    let (checkpoint, data) = (run_dir.join("best.ckpt"), renamed.clone());
    let out = crate::robustness::trajrnn(
        dir.path(),
        &["eval", "--checkpoint", checkpoint.to_str().unwrap(), "--dataset", data.to_str().unwrap()],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("recognised by content") && text.contains("test part of something_else"), "{text}");
}

/// Awkward channels are named by `inspect` with what training does, and training treats them so:
/// a joint pinned at its limit is held, a switch-like gripper is predicted from hold, counts on
/// a coarse grid are quantised; a channel constant in training that moves in the test part is a
/// warning and a finite prediction, not a blow-up.
#[test]
fn awkward_channels_are_named_and_treated() {
    let dir = tempdir();
    // j0 smooth; j1 pinned at 1.2 except in the last two episodes; g a gripper that opens and
    // closes like a switch.
    let f = |e: usize, t: usize, c: usize| match c {
        0 => motion(e, t, 0),
        1 if e >= 10 => 1.2 - 0.1 * motion(e, t, 1).abs(),
        1 => 1.2,
        _ => {
            if (t + 13 * e) % 80 < 40 {
                0.0
            } else {
                0.04
            }
        }
    };
    let root = custom_dataset(&dir.path().join("ds"), "awkward", 12, 120, f, regular);
    let report = inspect(&Dataset::load(&root).unwrap(), InspectConfig::default());
    let kind = |name: &str| report.kinds.iter().find(|k| k.channel == name).unwrap().clone();
    assert_eq!(kind("j0").kind, ChannelKind::Smooth);
    assert_eq!(kind("g").kind, ChannelKind::Switch);
    assert_eq!(kind("g").treatment, Treatment::HoldBase);
    assert_eq!(kind("j1").still_episodes, 10);
    let text = report.to_string();
    assert!(text.contains("switch-like") && text.contains("predicted from hold"), "{text}");

    // Train so that the two episodes where j1 moves are the test part.
    let mut c = config(&root, &dir.path().join("run"));
    c.data.split = SplitConfig { mode: trajrnn::data::SplitMode::Declared, ..c.data.split };
    let names = |r: std::ops::Range<usize>| r.map(|e| format!("\"episode_{e:03}\"")).collect::<Vec<_>>().join(", ");
    let meta = std::fs::read_to_string(root.join("dataset.json")).unwrap();
    let meta = meta.trim_end().trim_end_matches('}').to_string()
        + &format!(
            r#", "split": {{"train": [{}], "valid": [{}], "test": [{}]}}}}"#,
            names(0..8),
            names(8..10),
            names(10..12)
        );
    std::fs::write(root.join("dataset.json"), meta).unwrap();
    let mut notes = Vec::new();
    let mut observer = |e: RunEvent| {
        if let RunEvent::Note(n) | RunEvent::Warning(n) = e {
            notes.push(n);
        }
        ControlFlow::Continue(())
    };
    let trained = run::train(&c, TrainOptions::default(), &mut observer, None).unwrap();
    let enc = &trained.meta.encoding;
    assert_eq!(enc.treatments, [Treatment::Modelled, Treatment::Held, Treatment::HoldBase]);
    assert_eq!(enc.loss_weights[1], 0.0, "a held channel is not trained on");
    assert!(notes.iter().any(|n| n.contains("j1") && n.contains("constant") && n.contains("held")), "{notes:?}");
    assert!(
        notes.iter().any(|n| n.contains("j1") && n.contains("moves outside the training part")),
        "the channel that moves only in the test part is a warning: {notes:?}"
    );
    // The held channel is predicted as it stands, finite, where it moves.
    let j1 = trained.report.horizons[0].model().per_channel.clone().unwrap()[1];
    assert!(j1.is_finite(), "{j1}");
    let mut predictor = trajrnn::Predictor::load_host(&trained.best_checkpoint).unwrap();
    let test_episode = &trained.dataset.episodes[11];
    let mut last = None;
    for t in 0..40 {
        last = predictor.observe(test_episode.frame(t)).unwrap().map(<[f32]>::to_vec);
    }
    let next = last.unwrap();
    assert_eq!(next[1], test_episode.frame(39)[1], "held: the prediction is the current value");
    assert!(next.iter().all(|v| v.is_finite()));
}
