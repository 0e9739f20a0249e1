//! The `trajrnn` command as a user runs it: inspect, train (config file, flags, resolved
//! config, repeat), eval (channels matched by name, mismatches refused), rollout, and
//! errors printed as one message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

fn trajrnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trajrnn")).args(args).env("RUST_BACKTRACE", "1").output().unwrap()
}

fn err(out: &Output) -> String {
    assert!(!out.status.success(), "succeeded: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A tiny fast recipe.
const RECIPE: &str = "[model]\nhidden = 8\n[data]\ncontext = 12\nstride = 6\n[train]\nepochs = 2\nbatch_size = 16\n\
                      rollout_steps = 4\n[eval]\nwarmup = 12\nhorizons = [1, 5]\n";

fn train_tiny(dir: &Path) -> (PathBuf, PathBuf) {
    let ds = write_dataset(dir, &[240, 240, 240]);
    let config = dir.join("recipe.toml");
    std::fs::write(&config, RECIPE).unwrap();
    let run = dir.join("run");
    ok(&trajrnn(&["train", "--config", s(&config), "--dataset", s(&ds), "--run-dir", s(&run)]));
    (ds, run)
}

#[test]
fn inspect_reports_timing_statistics_and_duplicates() {
    let dir = tempdir();
    let ds = write_dataset(dir.path(), &[50]);
    // Repeat a whole row (same timestamp, same values), as some real logs do.
    let path = ds.join("episodes/episode_000.csv");
    let mut lines: Vec<String> = std::fs::read_to_string(&path).unwrap().lines().map(String::from).collect();
    lines.insert(5, lines[4].clone());
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let text = ok(&trajrnn(&["inspect", s(&ds)]));
    assert!(
        text.contains("50 frames") && text.contains("nominal 50 Hz") && text.contains("1 exact duplicate"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(&trajrnn(&["inspect", s(&ds), "--json"]))).unwrap();
    assert_eq!(json["duplicate_frames"], 1);
    assert_eq!(json["channels"].as_array().unwrap().len(), 3);
    assert!((json["timing"]["measured_rate_hz"].as_f64().unwrap() - 50.0).abs() < 1e-6);
    // The loader itself still refuses the repeated row.
    assert!(err(&trajrnn(&["train", "--dataset", s(&ds), "--run-dir", s(&dir.path().join("r"))])).contains("repeats"));
}

#[test]
fn train_writes_a_run_that_repeats_from_its_config() {
    let dir = tempdir();
    let (ds, run) = train_tiny(dir.path());
    for f in ["config.toml", "best.ckpt", "last.ckpt", "log.csv", "eval.json"] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let log = std::fs::read_to_string(run.join("log.csv")).unwrap();
    assert!(log.starts_with("epoch,step,loss,grad_norm,grad_norm_clipped,lr,seconds,event"));
    let resolved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(resolved.contains("hidden = 8") && resolved.contains(s(&ds)), "{resolved}");
    // The resolved config repeats the run: same losses in the log (timings aside).
    let again = dir.path().join("again");
    ok(&trajrnn(&["train", "--config", s(&run.join("config.toml")), "--run-dir", s(&again)]));
    let losses = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p.join("log.csv"))
            .unwrap()
            .lines()
            .map(|l| l.split(',').take(6).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(losses(&run), losses(&again));
    // A finished run is not replaced by accident.
    let e = err(&trajrnn(&["train", "--config", s(&run.join("config.toml"))]));
    assert!(e.contains("already holds a run") && e.contains("--overwrite"), "{e}");
}

#[test]
fn unknown_config_keys_and_bad_options_are_refused_before_any_work() {
    let dir = tempdir();
    let ds = write_dataset(dir.path(), &[240, 240]);
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[model]\nhidden = 8\n\n[train]\nepochz = 3\n").unwrap();
    let e = err(&trajrnn(&["train", "--config", s(&config), "--dataset", s(&ds)]));
    assert!(e.contains("bad.toml:5") && e.contains("epochz"), "{e}");
    for (flag, value, names) in [("--lr", "-1", "--lr"), ("--clip", "nan", "--clip"), ("--hidden", "0", "--hidden")] {
        let run = dir.path().join("r");
        let out = trajrnn(&["train", "--dataset", s(&ds), "--run-dir", s(&run), flag, value]);
        let e = err(&out);
        assert!(e.contains(names), "{flag} {value}: {e}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("epoch"), "work started before {flag} was checked");
    }
}

#[test]
fn errors_print_as_one_message_whatever_rust_backtrace_says() {
    let e = err(&trajrnn(&["inspect", "/no/such/dataset"]));
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(e.starts_with("error: ") && e.contains("/no/such/dataset/dataset.json"), "{e}");
}

#[test]
fn eval_matches_channels_by_name_and_refuses_other_channels() {
    let dir = tempdir();
    let (ds, run) = train_tiny(dir.path());
    let ckpt = run.join("best.ckpt");
    let report = dir.path().join("report.json");
    let text = ok(&trajrnn(&["eval", "--checkpoint", s(&ckpt), "--dataset", s(&ds), "--report", s(&report)]));
    assert!(text.contains("linear_ar") && text.contains("const_vel"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["horizons"].as_array().unwrap().len(), 2);

    // The same data with its columns reordered (in dataset.json and in the files) gives the same report.
    let other = dir.path().join("reordered");
    std::fs::create_dir_all(other.join("episodes")).unwrap();
    std::fs::write(other.join("dataset.json"), META.replace(r#"["j0", "j1"]"#, r#"["j1", "j0"]"#)).unwrap();
    for f in std::fs::read_dir(ds.join("episodes")).unwrap() {
        let f = f.unwrap().path();
        let text = std::fs::read_to_string(&f).unwrap();
        let swapped: Vec<String> = text
            .lines()
            .map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                [c[0], c[2], c[1], c[3]].join(",")
            })
            .collect();
        std::fs::write(other.join("episodes").join(f.file_name().unwrap()), swapped.join("\n") + "\n").unwrap();
    }
    let report2 = dir.path().join("report2.json");
    ok(&trajrnn(&["eval", "--checkpoint", s(&ckpt), "--dataset", s(&other), "--report", s(&report2), "--part", "all"]));
    ok(&trajrnn(&["eval", "--checkpoint", s(&ckpt), "--dataset", s(&ds), "--report", s(&report), "--part", "all"]));
    let horizons = |p: &Path| {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v["horizons"].clone()
    };
    assert_eq!(horizons(&report), horizons(&report2));

    // Other channels are refused with both lists.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(foreign.join("episodes")).unwrap();
    std::fs::write(foreign.join("dataset.json"), META.replace(r#""j0", "j1""#, r#""a0", "a1""#)).unwrap();
    std::fs::write(foreign.join("episodes/e.csv"), episode_csv(100, 0).replace("j0,j1", "a0,a1")).unwrap();
    let e = err(&trajrnn(&["eval", "--checkpoint", s(&ckpt), "--dataset", s(&foreign)]));
    assert!(e.contains("a0, a1, g") && e.contains("j0, j1, g"), "{e}");
}

#[cfg(feature = "rerun")]
#[test]
fn rollout_writes_a_recording_even_without_a_robot_description() {
    let dir = tempdir();
    let (ds, run) = train_tiny(dir.path());
    let out = dir.path().join("out.rrd");
    let text = ok(&trajrnn(&[
        "rollout",
        "--checkpoint",
        s(&run.join("best.ckpt")),
        "--dataset",
        s(&ds),
        "--horizon",
        "20",
        "--out",
        s(&out),
    ]));
    assert!(text.contains("wrote") && std::fs::metadata(&out).unwrap().len() > 1000, "{text}");
    let e = err(&trajrnn(&[
        "rollout",
        "--checkpoint",
        s(&run.join("best.ckpt")),
        "--dataset",
        s(&ds),
        "--episode",
        "nope",
    ]));
    assert!(e.contains("episode_000"), "{e}");
}

/// SIGTERM (what a job scheduler sends) and Ctrl-C stop `trajrnn train` at a step boundary: the
/// process exits with 130, `last.ckpt` holds the run at the start of the interrupted epoch, and
/// `--resume` continues it to the end.
#[cfg(unix)]
#[test]
fn a_signal_stops_training_with_last_ckpt_and_resume_finishes_it() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let dir = tempdir();
        let ds = write_dataset(dir.path(), &[240, 240, 240]);
        let config = dir.path().join("recipe.toml");
        // Enough epochs (a few milliseconds each) for the run to be going when the signal arrives.
        std::fs::write(&config, RECIPE.replace("epochs = 2", "epochs = 400\npatience = 1000")).unwrap();
        let run = dir.path().join("run");
        let mut child = Command::new(env!("CARGO_BIN_EXE_trajrnn"))
            .args(["train", "--config", s(&config), "--dataset", s(&ds), "--run-dir", s(&run)])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = String::new();
        // After the second epoch's line, so that a completed epoch is on record.
        while let Some(line) = lines.next().map(Result::unwrap) {
            seen += &line;
            seen.push('\n');
            if line.starts_with("epoch   2") {
                break;
            }
        }
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
        let rest: Vec<String> = lines.map(Result::unwrap).collect();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "signal {signal}: {seen}{}", rest.join("\n"));
        let interrupted: usize = rest
            .iter()
            .find_map(|l| l.strip_prefix("interrupted during epoch ")?.split(':').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no interruption line: {}", rest.join("\n")));
        assert!((3..400).contains(&interrupted), "interrupted during epoch {interrupted}");
        assert!(run.join("last.ckpt").is_file() && run.join("best.ckpt").is_file());
        // Resumed: from the interrupted epoch to the last.
        let out = ok(&trajrnn(&["train", "--resume", s(&run)]));
        let epochs: Vec<usize> = out
            .lines()
            .filter_map(|l| l.strip_prefix("epoch ")?.split_whitespace().next()?.parse().ok())
            .filter(|&e| e > 0)
            .collect();
        assert_eq!(epochs, (interrupted..=400).collect::<Vec<_>>(), "{out}");
    }
}
