use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub const META: &str = r#"{
  "format": "trajrnn-trajectories",
  "format_version": 1,
  "name": "tiny",
  "robot": "test",
  "rate_hz": 50.0,
  "joints": ["j0", "j1"],
  "gripper": ["g"]
}"#;

/// Smooth synthetic motion: `frames` rows of (time, j0, j1, g) for episode `e`.
pub fn episode_csv(frames: usize, e: usize) -> String {
    let mut s = String::from("time,j0,j1,g\n");
    for t in 0..frames {
        let x = t as f64 * 0.02;
        let phase = e as f64 * 0.7;
        writeln!(
            s,
            "{x:.3},{:.6},{:.6},{:.6}",
            (x * 1.3 + phase).sin(),
            0.5 * (x * 0.7 + phase).cos(),
            0.02 * (x * 0.5).sin().max(0.0)
        )
        .unwrap();
    }
    s
}

/// Writes a dataset folder with one episode per entry of `frames`.
pub fn write_dataset(dir: &Path, frames: &[usize]) -> PathBuf {
    let root = dir.join("ds");
    std::fs::create_dir_all(root.join("episodes")).unwrap();
    std::fs::write(root.join("dataset.json"), META).unwrap();
    for (e, &n) in frames.iter().enumerate() {
        std::fs::write(root.join(format!("episodes/episode_{e:03}.csv")), episode_csv(n, e)).unwrap();
    }
    root
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn device() -> burn::prelude::Device {
    trajrnn::Backend::Flex.device().unwrap()
}

pub fn bundled(robot: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/robosuite_pick_place").join(robot)
}

/// The standard output of a command that must succeed (the whole output shown if it failed).
pub fn ok(out: &std::process::Output) -> String {
    let (o, e) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "failed:\nstdout: {o}\nstderr: {e}");
    o.into_owned()
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
