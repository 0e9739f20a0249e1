//! Every kind of bad input gives an error naming the file, line and column; never a panic.

use trajrnn::baselines::BaselineConfig;
use trajrnn::data::{Dataset, SplitConfig, SplitMode, WindowSpec};
use trajrnn::encoding::EncodingConfig;
use trajrnn::train::prepare;

use crate::common::*;

/// Loads a dataset whose first episode has `csv` as content; returns the error text.
fn load_error(csv: &str) -> String {
    let dir = tempdir();
    let root = write_dataset(dir.path(), &[50]);
    std::fs::write(root.join("episodes/episode_000.csv"), csv).unwrap();
    Dataset::load(&root).expect_err("bad input must be rejected").to_string()
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for p in parts {
        assert!(message.contains(p), "error `{message}` does not mention `{p}`");
    }
}

#[test]
fn bundled_datasets_load() {
    let sawyer = Dataset::load(bundled("sawyer")).unwrap();
    assert_eq!(sawyer.episodes.iter().map(|e| e.len()).collect::<Vec<_>>(), [5399, 4167]);
    assert_eq!(sawyer.dim(), 9);
    assert_eq!(sawyer.meta.rate_hz, 100.0);
    let panda = Dataset::load(bundled("panda")).unwrap();
    assert_eq!(panda.episodes[0].len(), 1482);
    assert_eq!(panda.meta.joints[0], "robot0_joint1");
    // First frame of the Panda demo, as converted from MuJoCo's qpos.
    let q0 = panda.episodes[0].frame(0);
    assert!(q0.iter().all(|v| v.is_finite()));
    assert!(q0[..7].iter().all(|v| v.abs() < 2.0 * std::f32::consts::PI));
}

#[test]
fn columns_may_come_in_any_order() {
    let dir = tempdir();
    let root = write_dataset(dir.path(), &[10]);
    std::fs::write(
        root.join("episodes/episode_000.csv"),
        "g,time,j1,j0\n0.1,0.0,2.0,1.0\n0.2,0.1,2.5,1.5\n0.3,0.2,2.6,1.6\n",
    )
    .unwrap();
    let ds = Dataset::load(&root).unwrap();
    assert_eq!(ds.episodes[0].frame(1), &[1.5, 2.5, 0.2]);
    assert_eq!(ds.episodes[0].time, [0.0, 0.1, 0.2]);
}

#[test]
fn missing_column() {
    let e = load_error("time,j0,g\n0,1,2\n");
    assert_mentions(&e, &["episode_000.csv:1", "`j1`", "missing column"]);
}

#[test]
fn extra_column() {
    let e = load_error("time,j0,j1,g,torque\n0,1,2,3,4\n");
    assert_mentions(&e, &["episode_000.csv:1", "`torque`", "extra column"]);
}

#[test]
fn duplicate_column() {
    let e = load_error("time,j0,j1,j0,g\n0,1,2,3,4\n");
    assert_mentions(&e, &["episode_000.csv:1", "`j0`", "duplicate column"]);
}

#[test]
fn non_numeric_value() {
    let e = load_error("time,j0,j1,g\n0,1,2,3\n0.1,1,abc,3\n");
    assert_mentions(&e, &["episode_000.csv:3", "`j1`", "\"abc\" is not a number"]);
}

#[test]
fn nan_and_inf() {
    let e = load_error("time,j0,j1,g\n0,NaN,2,3\n");
    assert_mentions(&e, &["episode_000.csv:2", "`j0`", "not finite"]);
    let e = load_error("time,j0,j1,g\n0,1,2,3\n0.1,1,2,inf\n");
    assert_mentions(&e, &["episode_000.csv:3", "`g`", "not finite"]);
}

#[test]
fn ragged_row() {
    let e = load_error("time,j0,j1,g\n0,1,2,3\n0.1,1,2\n");
    assert_mentions(&e, &["episode_000.csv:3", "ragged row", "3 fields", "has 4"]);
}

#[test]
fn non_increasing_timestamps() {
    let e = load_error("time,j0,j1,g\n0,1,2,3\n0.1,1,2,3\n0.1,1,2,4\n");
    assert_mentions(&e, &["episode_000.csv:4", "`time`", "must increase"]);
}

#[test]
fn empty_episode() {
    let e = load_error("time,j0,j1,g\n");
    assert_mentions(&e, &["episode_000.csv", "empty episode"]);
}

#[test]
fn window_longer_than_episode() {
    let dir = tempdir();
    let root = write_dataset(dir.path(), &[200, 40]);
    let ds = Dataset::load(&root).unwrap();
    let split = SplitConfig { mode: SplitMode::TimeBlocks, gap: 0, ..SplitConfig::default() };
    let spec = WindowSpec { context: 64, stride: 1 };
    let e = prepare(&ds, &split, spec, &BaselineConfig::default(), EncodingConfig::default()).unwrap_err().to_string();
    // Episode 1's training block: 40 frames less 6 for validation and 6 for the test.
    assert_mentions(&e, &["episode_001.csv", "28 frames", "shorter than a window", "context 64", "--context"]);
}

#[test]
fn bad_metadata() {
    let dir = tempdir();
    let root = write_dataset(dir.path(), &[10]);
    std::fs::write(root.join("dataset.json"), META.replace("\"rate_hz\": 50.0", "\"rate_hz\": -1")).unwrap();
    let e = Dataset::load(&root).unwrap_err().to_string();
    assert_mentions(&e, &["dataset.json", "`rate_hz`", "positive"]);
    std::fs::write(root.join("dataset.json"), META.replace("\"j1\"", "\"j0\"")).unwrap();
    assert_mentions(&Dataset::load(&root).unwrap_err().to_string(), &["\"j0\" is listed twice"]);
    std::fs::write(root.join("dataset.json"), "{\n  \"format\": 3\n}").unwrap();
    assert_mentions(&Dataset::load(&root).unwrap_err().to_string(), &["dataset.json:2"]);
}

#[test]
fn missing_files() {
    let dir = tempdir();
    let e = Dataset::load(dir.path().join("nowhere")).unwrap_err().to_string();
    assert_mentions(&e, &["nowhere/dataset.json"]);
    let root = write_dataset(dir.path(), &[]);
    assert_mentions(&Dataset::load(&root).unwrap_err().to_string(), &["episodes", "no episode"]);
}

/// Irregular timestamps are put on the nominal grid by linear interpolation; a regular recording
/// is recognised as such.
#[test]
fn irregular_recordings_are_resampled_onto_the_nominal_grid() {
    use trajrnn::data::resample::{irregular_episodes, resample_irregular};
    let dir = tempdir();
    let root = write_dataset(dir.path(), &[10, 10]);
    // 50 Hz nominal; the step 0.04 → 0.08 drops a frame.
    std::fs::write(
        root.join("episodes/episode_000.csv"),
        "time,j0,j1,g\n0.00,0.0,1.0,0\n0.02,0.2,1.0,0\n0.04,0.4,1.0,0\n0.08,1.2,1.0,0\n0.10,1.4,1.0,0\n",
    )
    .unwrap();
    let ds = Dataset::load(&root).unwrap();
    assert_eq!(irregular_episodes(&ds), 1);
    let r = resample_irregular(&ds).unwrap();
    // Episode by episode: the regular episode is left exactly as it was.
    assert_eq!(r.episodes[1], ds.episodes[1]);
    let ep = &r.episodes[0];
    assert_eq!(ep.len(), 6);
    for (t, want) in ep.time.iter().zip([0.0, 0.02, 0.04, 0.06, 0.08, 0.10]) {
        assert!((t - want).abs() < 1e-9, "{t} vs {want}");
    }
    // Frame 3 (0.06 s) is halfway between 0.4 and 1.2.
    assert!((ep.frame(3)[0] - 0.8).abs() < 1e-6, "{:?}", ep.frame(3));
    assert!((ep.frame(5)[0] - 1.4).abs() < 1e-6);
    assert_eq!(irregular_episodes(&r), 0);
    let regular = Dataset::load(write_dataset(tempdir().path(), &[30])).unwrap();
    assert_eq!(irregular_episodes(&regular), 0);
}
