//! The faults of real machines: two runs on one folder, a full disk, writers killed and their
//! pids reused, datasets that name files outside their folder. `tools/fault_inject.py` injects
//! the same faults at random points, hundreds of times; these are one case of each class.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::*;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_trajrnn")
}

fn trajrnn(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

/// The error message of a run that must fail cleanly: exit code 1 and one line, not a panic.
fn err(out: &Output) -> String {
    let e = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stdout: {}\nstderr: {e}", String::from_utf8_lossy(&out.stdout));
    assert!(!e.contains("panicked"), "{e}");
    e
}

/// A tiny fast recipe (`epochs` epochs of a few milliseconds).
fn recipe(dir: &Path, epochs: usize) -> PathBuf {
    let path = dir.join(format!("recipe{epochs}.toml"));
    let text = format!(
        "[model]\nhidden = 8\nmembers = 1\n[data]\ncontext = 12\nstride = 6\n[train]\nepochs = {epochs}\npatience = 1000\n\
         batch_size = 16\nrollout_steps = 4\n[eval]\nwarmup = 12\nhorizons = [1, 5]\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn train_args<'a>(config: &'a Path, ds: &'a Path, run: &'a Path) -> Vec<&'a str> {
    vec!["train", "--config", s(config), "--dataset", s(ds), "--run-dir", s(run)]
}

/// Starts a long training run and returns once its first epoch is on record.
#[cfg(unix)]
fn start_long_run(args: &[&str]) -> std::process::Child {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(bin()).args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(line) = lines.next().map(Result::unwrap) {
        if line.starts_with("epoch   1") {
            break;
        }
    }
    // Keep draining its output, so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    child
}

/// Checkpoints present in `run` load (they are whole), and no temporary file is left.
fn assert_whole(run: &Path) {
    for name in ["best.ckpt", "last.ckpt"] {
        let path = run.join(name);
        if path.exists() {
            trajrnn::checkpoint::load_meta(&path).unwrap_or_else(|e| panic!("{name} does not load: {e}"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Two runs on one folder

/// A second `train --overwrite` on the folder of a run in progress is refused with the first
/// run's pid, and leaves the first run's files alone; once that run is killed (kill -9: no
/// chance to clean up), its lock is taken over by the next run, which says so.
#[cfg(unix)]
#[test]
fn a_busy_run_folder_is_refused_and_a_killed_runs_lock_is_taken_over() {
    let dir = tempdir();
    let ds = write_dataset(dir.path(), &[240, 240, 240]);
    let (long, short) = (recipe(dir.path(), 400), recipe(dir.path(), 2));
    let run = dir.path().join("run");
    let mut first = start_long_run(&train_args(&long, &ds, &run));
    let config_before = std::fs::read(run.join("config.toml")).unwrap();

    let mut second = train_args(&short, &ds, &run);
    second.push("--overwrite");
    let e = err(&trajrnn(&second));
    assert!(e.contains("in use by another trajrnn run") && e.contains(&format!("pid {},", first.id())), "{e}");
    assert!(e.contains(s(&run)), "names the folder: {e}");
    assert_eq!(std::fs::read(run.join("config.toml")).unwrap(), config_before, "the first run's files are untouched");

    assert_eq!(unsafe { libc::kill(first.id() as libc::pid_t, libc::SIGKILL) }, 0);
    first.wait().unwrap();
    assert_whole(&run);
    let out = ok(&trajrnn(&second));
    assert!(out.contains("ended without releasing it") && out.contains("taking it over"), "{out}");
    // A run that ended normally leaves no lock behind: the next one says nothing about it.
    assert!(!run.join(".trajrnn.lock").exists());
    let out = ok(&trajrnn(&second));
    assert!(!out.contains("taking it over"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// A full disk

/// A tmpfs mounted at a new folder with `options` (e.g. `size=12k`, `ro,size=64k`) for as long as
/// the value lives, where the tests run as root (as on the CI machine), else `None`.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: PathBuf, options: &str) -> Option<Self> {
        std::fs::create_dir_all(&at).unwrap();
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let status =
            Command::new("mount").args(["-t", "tmpfs", "-o", options, "tmpfs", s(&at)]).stderr(Stdio::null()).status();
        status.is_ok_and(|st| st.success()).then_some(Self(at))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Runs `args` with every file it writes limited to `bytes` (`ulimit -f`), SIGXFSZ ignored so
/// that the write fails with "File too large" instead of killing the process: the full-disk
/// fault where no file system can be mounted.
#[cfg(unix)]
fn run_with_file_limit(args: &[&str], bytes: u64) -> Output {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(bin());
    command.args(args);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.output().unwrap()
}

/// Training, generating and importing onto a disk that fills up: each either finishes or stops
/// with one clear message naming the file it could not write and the reason; whatever was
/// written before stays whole, and nothing half-written or temporary is left. The disk is a
/// tmpfs of a few sizes, so that it fills at different files (or, not as root, a file-size limit).
#[cfg(unix)]
#[test]
fn a_full_disk_is_a_clear_error_and_loses_nothing() {
    let dir = tempdir();
    let ds = write_dataset(dir.path(), &[240, 240, 240]);
    let config = recipe(dir.path(), 3);
    let good = dir.path().join("good");
    ok(&trajrnn(&train_args(&config, &ds, &good)));
    let mut failures = Vec::new();
    for (i, kib) in [12usize, 24, 48, 96, 4096].into_iter().enumerate() {
        let place = dir.path().join(format!("fs{i}"));
        let mounted = Tmpfs::mount(place.clone(), &format!("size={}", kib << 10));
        let run = place.join("run");
        let out = match &mounted {
            Some(_) => trajrnn(&train_args(&config, &ds, &run)),
            None => run_with_file_limit(&train_args(&config, &ds, &run), (kib as u64) << 8),
        };
        if !out.status.success() {
            let e = err(&out);
            let reason = if mounted.is_some() { "No space left on device" } else { "File too large" };
            assert!(e.contains(reason) && e.contains(s(&run)), "{kib} KiB: {e}");
            failures.push(e);
        }
        assert_whole(&run);
        let litter: Vec<_> = std::fs::read_dir(&run)
            .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        assert!(!litter.iter().any(|n| n.ends_with(".tmp")), "{kib} KiB: temporary files left: {litter:?}");
        if mounted.is_some() {
            // Folders written whole: the generator's dataset and an import either appear complete
            // or not at all.
            let out = Command::new(bin())
                .args(["generate", "--out", s(&place.join("gen")), "--episodes", "40"])
                .output()
                .unwrap();
            if !out.status.success() {
                assert!(err(&out).contains("No space left on device"));
                assert!(!place.join("gen").exists(), "a half-written dataset was left");
            }
            let out = trajrnn(&["import", "csv", s(&ds), s(&place.join("imported"))]);
            if !out.status.success() {
                assert!(err(&out).contains("No space left on device"));
                assert!(!place.join("imported").exists(), "a half-written import was left");
            }
            if cfg!(feature = "rerun") {
                let recording = place.join("rollout.rrd");
                let ckpt = good.join("best.ckpt");
                let out = trajrnn(&["rollout", "--checkpoint", s(&ckpt), "--dataset", s(&ds), "--out", s(&recording)]);
                if !out.status.success() {
                    assert!(err(&out).contains("No space left on device"));
                    assert!(!recording.exists(), "a half-written recording was left");
                }
            }
            let names: Vec<String> =
                std::fs::read_dir(&place).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
            assert!(!names.iter().any(|n| n.starts_with('.')), "{kib} KiB: staging left: {names:?}");
        }
    }
    assert!(failures.len() >= 2, "the smaller disks must fill up: {failures:?}");
    assert!(failures.iter().any(|e| e.contains(".ckpt")), "a checkpoint write must have failed: {failures:?}");
}

// ---------------------------------------------------------------------------------------------
// Litter of killed writers

/// Temporary files and staging folders are named by their writer's pid *and start time*: a
/// file whose pid now belongs to another process (here pid 1, which started long before) is
/// stale and swept by the next write of the same target; a live writer's file is kept.
#[cfg(target_os = "linux")]
#[test]
fn temporary_files_of_dead_writers_are_swept_even_when_their_pid_is_reused() {
    let dir = tempdir();
    let target = dir.path().join("report.json");
    let reused = dir.path().join(".report.json.1-999999999.abc123.tmp");
    // Another live writer: a child process, tagged by its pid and start time as it would tag itself.
    let mut writer = Command::new("sleep").arg("30").spawn().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", writer.id())).unwrap();
    let start = stat[stat.rfind(')').unwrap() + 1..].split_whitespace().nth(19).unwrap().to_string();
    let live = dir.path().join(format!(".report.json.{}-{start}.def456.tmp", writer.id()));
    let mine = dir.path().join(format!(".report.json.{}.ghi789.tmp", trajrnn::io::writer_tag()));
    // A writer of another boot (another machine sharing the folder): it cannot be asked, so kept.
    let elsewhere = dir.path().join(".report.json.1-999999999-0badb007.jkl012.tmp");
    std::fs::write(&elsewhere, b"another machine's").unwrap();
    std::fs::write(&mine, b"this process's own").unwrap();
    let staging = dir.path().join(".ds.1-999999999.xyz789.staging");
    std::fs::write(&reused, b"half").unwrap();
    std::fs::write(&live, b"in progress").unwrap();
    std::fs::create_dir_all(staging.join("episodes")).unwrap();
    trajrnn::io::write_atomic(&target, |f| std::io::Write::write_all(f, b"{}")).unwrap();
    assert!(!reused.exists(), "a file of a process that no longer runs (pid reused) is swept");
    assert!(live.exists(), "a live writer's file is kept");
    assert!(mine.exists(), "this process's own file is kept");
    assert!(elsewhere.exists(), "another boot's file is kept");
    writer.kill().unwrap();
    writer.wait().unwrap();
    trajrnn::io::write_atomic(&target, |f| std::io::Write::write_all(f, b"{}")).unwrap();
    assert!(!live.exists(), "once the writer has ended, its file is swept");
    synthetic_dataset().save(&dir.path().join("ds"), &[]).unwrap();
    assert!(!staging.exists(), "a dead writer's staging folder is swept");
}

fn synthetic_dataset() -> trajrnn::data::Dataset {
    crate::robustness::synthetic(&["a", "b", "g0", "g1"], 1, 50)
}

// ---------------------------------------------------------------------------------------------
// Untrusted datasets

/// A dataset reads only its own folder: a robot description named by absolute path, through
/// `..` or through a symbolic link that leaves the folder is refused before any training, with
/// the path and the flag that allows it, and without showing the file's content;
/// `--allow-outside-files` reads it.
#[cfg(unix)]
#[test]
fn a_dataset_reads_no_file_outside_its_folder_unless_allowed() {
    let dir = tempdir();
    let ds = write_dataset(dir.path(), &[240, 240, 240]);
    let secret = dir.path().join("secret.xml");
    std::fs::write(&secret, "<mujoco>SECRET-CONTENT<worldbody/></mujoco>").unwrap();
    std::os::unix::fs::symlink(&secret, ds.join("link.xml")).unwrap();
    let config = recipe(dir.path(), 1);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ds.join("dataset.json")).unwrap()).unwrap();
    for (i, path) in [s(&secret), "../secret.xml", "link.xml"].into_iter().enumerate() {
        let mut meta = meta.clone();
        meta["robot_description"] = serde_json::json!({"format": "mjcf", "path": path, "end_effector": "tip"});
        std::fs::write(ds.join("dataset.json"), meta.to_string()).unwrap();
        let run = dir.path().join(format!("run{i}"));
        let e = err(&trajrnn(&train_args(&config, &ds, &run)));
        assert!(
            e.contains("outside the dataset folder")
                && e.contains("--allow-outside-files")
                && e.contains("robot_description.path")
                && e.contains("dataset.json"),
            "{path}: {e}"
        );
        assert!(!e.contains("SECRET"), "{e}");
        assert!(!run.join("config.toml").exists(), "refused before training");
        // Allowed: the file is read (and found to be no robot).
        let mut args = train_args(&config, &ds, &run);
        args.insert(0, "--allow-outside-files");
        let e = err(&trajrnn(&args));
        assert!(e.contains("holds no <body>") && !e.contains("outside the dataset folder"), "{e}");
    }
}

/// A URDF inside the dataset folder whose meshes lie outside it (`file://` absolute, or `..`)
/// is refused the same way, naming the link and the URDF.
#[test]
fn a_urdf_naming_meshes_outside_the_dataset_is_refused() {
    let dir = tempdir();
    let ds = write_dataset(dir.path(), &[100]);
    let outside = dir.path().join("mesh.stl");
    std::fs::write(&outside, b"solid x\nendsolid x\n").unwrap();
    let urdf = |mesh: &str| {
        format!(
            r#"<robot name="r"><link name="base"/><link name="arm"><visual><geometry><mesh filename="{mesh}"/></geometry></visual></link>
<joint name="j0" type="revolute"><parent link="base"/><child link="arm"/><axis xyz="0 0 1"/><limit lower="-1" upper="1" effort="1" velocity="1"/></joint></robot>"#
        )
    };
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ds.join("dataset.json")).unwrap()).unwrap();
    meta["robot_description"] = serde_json::json!({"format": "urdf", "path": "robot.urdf", "end_effector": "arm"});
    std::fs::write(ds.join("dataset.json"), meta.to_string()).unwrap();
    for mesh in [format!("file://{}", outside.display()), "../mesh.stl".into()] {
        std::fs::write(ds.join("robot.urdf"), urdf(&mesh)).unwrap();
        let dataset = trajrnn::data::Dataset::load(&ds).unwrap();
        let e = trajrnn::kinematics::Kinematics::for_dataset(&dataset).unwrap_err().to_string();
        assert!(
            e.contains("outside the dataset folder") && e.contains("mesh of link arm") && e.contains("robot.urdf"),
            "{e}"
        );
    }
    // Inside the folder: read.
    std::fs::copy(&outside, ds.join("mesh.stl")).unwrap();
    std::fs::write(ds.join("robot.urdf"), urdf("mesh.stl")).unwrap();
    let dataset = trajrnn::data::Dataset::load(&ds).unwrap();
    assert!(trajrnn::kinematics::Kinematics::for_dataset(&dataset).unwrap().is_some());
}

// ---------------------------------------------------------------------------------------------
// Every run repeats from its own folder

fn any_config() -> impl proptest::strategy::Strategy<Value = trajrnn::RunConfig> {
    use proptest::prelude::*;
    use trajrnn::data::SplitMode;
    use trajrnn::encoding::TargetBase;
    use trajrnn::model::CellKind;
    use trajrnn::train::OptimizerConfig;
    use trajrnn::train::{Schedule, Selection};
    let optional = |p: usize| prop::option::of(1..p);
    let model = (prop::sample::select(vec![CellKind::Rnn, CellKind::Lstm, CellKind::Gru]), 1..512usize, 1..4usize);
    let train = (
        prop::option::of(1e-3..1e3f64),
        optional(200),
        optional(50),
        prop::sample::select(vec![Schedule::Constant, Schedule::Cosine]),
        prop::sample::select(vec![Selection::Loss, Selection::Rollout]),
        (1e-6..1.0f64, 0..64usize, 0.0..0.5f64, any::<u64>()),
        prop::sample::select(vec![
            OptimizerConfig::Adam { beta1: 0.8, beta2: 0.99, epsilon: 1e-7 },
            OptimizerConfig::AdamW { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weight_decay: 0.3 },
            OptimizerConfig::Sgd { momentum: 0.5, nesterov: true, weight_decay: 0.0 },
        ]),
    );
    let data = (
        prop::sample::select(vec![SplitMode::Auto, SplitMode::Episodes, SplitMode::TimeBlocks, SplitMode::Declared]),
        prop::option::of(any::<bool>()),
        prop::sample::select(vec![TargetBase::Hold, TargetBase::ConstantVelocity, TargetBase::LinearAr]),
        (1..256usize, 1..32usize, any::<bool>()),
    );
    (model, train, data, prop::collection::vec(1..500usize, 1..5)).prop_map(|(model, train, data, horizons)| {
        let mut c = trajrnn::RunConfig::default();
        (c.model.cell, c.model.hidden, c.model.layers) = model;
        let (clip, tbptt, patience, schedule, selection, (lr, rollout_steps, noise, seed), optimizer) = train;
        c.train.clip_norm = clip;
        c.train.tbptt = tbptt;
        c.train.patience = patience;
        c.train.schedule = schedule;
        c.train.selection = selection;
        (c.train.learning_rate, c.train.rollout_steps, c.train.input_noise, c.train.seed) =
            (lr, rollout_steps, noise, seed);
        c.train.optimizer = optimizer;
        let (mode, ar_joint, target, (context, stride, resample)) = data;
        c.data.split.mode = mode;
        c.data.encoding.ar_joint = ar_joint;
        c.data.encoding.target = target;
        (c.data.context, c.data.stride, c.data.resample) = (context, stride, resample);
        c.eval.horizons = horizons;
        c
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]
    /// `config.toml` repeats every configuration: written and read back, it is the same one,
    /// settings that are off (`none`) included; so does a checkpoint's JSON header.
    #[test]
    fn every_configuration_round_trips_through_its_config_toml(config in any_config()) {
        let text = config.to_toml();
        let back = trajrnn::RunConfig::parse(&text, Path::new("config.toml")).unwrap();
        proptest::prop_assert_eq!(&back, &config, "{}", text);
        // A resume compares these settings with the ones the checkpoint's JSON header holds.
        let json = serde_json::to_string(&config.train).unwrap();
        proptest::prop_assert_eq!(serde_json::from_str::<trajrnn::train::TrainConfig>(&json).unwrap(), config.train);
    }
}

/// A run with its optional settings off resumes from its own folder (`--patience none` used
/// to come back as the default 5 and refuse the resume); flags beside `--resume` that would
/// change the run are refused, and `--epochs` adds epochs.
#[test]
fn a_run_with_settings_off_resumes_from_its_own_folder() {
    let dir = tempdir();
    let ds = write_dataset(dir.path(), &[240, 240, 240]);
    let config = recipe(dir.path(), 2);
    let run = dir.path().join("run");
    let mut args = train_args(&config, &ds, &run);
    args.extend(["--patience", "none", "--clip", "none"]);
    ok(&trajrnn(&args));
    let toml = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(toml.contains("clip_norm = \"none\"") && toml.contains("patience = \"none\""), "{toml}");
    let out = ok(&trajrnn(&["train", "--resume", s(&run), "--epochs", "3"]));
    assert!(out.contains("epoch   3"), "{out}");
    let e = err(&trajrnn(&["train", "--resume", s(&run), "--epochs", "5", "--lr", "nan"]));
    assert!(e.contains("--lr"), "{e}");
    // The file repeats the run: training from it gives the same configuration again.
    let again = dir.path().join("again");
    ok(&trajrnn(&["train", "--config", s(&run.join("config.toml")), "--run-dir", s(&again)]));
    let first = trajrnn::RunConfig::load(&run.join("config.toml")).unwrap();
    let second = trajrnn::RunConfig::load(&again.join("config.toml")).unwrap();
    assert_eq!(trajrnn::RunConfig { run_dir: run.clone(), ..second }, first);
}

// ---------------------------------------------------------------------------------------------
// Read-only places

/// A folder nothing can be written into, for as long as the value lives: a read-only tmpfs
/// where the tests run as root (who writes through permissions), else mode 0555.
struct ReadOnly(PathBuf, Option<Tmpfs>);

impl ReadOnly {
    fn new(at: PathBuf) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let mounted = Tmpfs::mount(at.clone(), "ro,size=64k");
        if mounted.is_none() {
            std::fs::set_permissions(&at, std::fs::Permissions::from_mode(0o555)).unwrap();
        }
        Self(at, mounted)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.1.is_none() {
            let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
        }
    }
}

/// Every command's output in a read-only place (run folder, `--report`, `--out` of rollout,
/// view, import, generate, experiment and bench-quality) is refused with a message naming it,
/// before any work: nothing is printed but the error.
#[cfg(unix)]
#[test]
fn every_output_in_a_read_only_place_is_refused_before_any_work() {
    let dir = tempdir();
    let ds = write_dataset(dir.path(), &[240, 240, 240]);
    let config = recipe(dir.path(), 1);
    let run = dir.path().join("run");
    ok(&trajrnn(&train_args(&config, &ds, &run)));
    let ro = ReadOnly::new(dir.path().join("ro"));
    let at = |name: &str| ro.0.join(name).to_str().unwrap().to_string();
    let (ds, ckpt) = (s(&ds).to_string(), s(&run.join("best.ckpt")).to_string());
    let mut cases: Vec<Vec<String>> = vec![
        train_args(&config, Path::new(&ds), &ro.0.join("run")).into_iter().map(String::from).collect(),
        vec!["generate".into(), "--out".into(), at("gen")],
        vec!["import".into(), "csv".into(), ds.clone(), at("imported")],
        vec![
            "eval".into(),
            "--checkpoint".into(),
            ckpt.clone(),
            "--dataset".into(),
            ds.clone(),
            "--report".into(),
            at("e.json"),
        ],
        vec!["bench-quality".into(), ds.clone(), "--out".into(), at("bq")],
    ];
    if cfg!(feature = "rerun") {
        cases.push(vec![
            "rollout".into(),
            "--checkpoint".into(),
            ckpt,
            "--dataset".into(),
            ds.clone(),
            "--out".into(),
            at("r.rrd"),
        ]);
        cases.push(vec!["view".into(), ds.clone(), "--out".into(), at("v.rrd")]);
    }
    if cfg!(feature = "experiments") {
        cases.push(vec!["experiment".into(), "memory".into(), "--quick".into(), "--out".into(), at("exp")]);
    }
    for args in cases {
        let out = Command::new(bin()).args(&args).output().unwrap();
        let e = err(&out);
        let reason = if ro.1.is_some() { "Read-only file system" } else { "Permission denied" };
        assert!(e.contains(reason) && e.contains(s(&ro.0)), "{args:?}: {e}");
        assert!(out.stdout.is_empty(), "{args:?} worked before refusing: {}", String::from_utf8_lossy(&out.stdout));
    }
}

// ---------------------------------------------------------------------------------------------
// Files that claim more than they hold

/// A 26 KB robomimic file whose joint-position dataset claims 2³³ × 7 values (480 GB; the
/// dimensions patched in place in its HDF5 dataspace) is refused with a message naming the
/// file and the dataset, without asking for the memory (this test binary's allocator refuses
/// any single allocation over 1 GiB, which would abort it).
#[cfg(feature = "import")]
#[test]
fn an_hdf5_file_claiming_gigabytes_is_refused_without_allocating_them() {
    let mut bytes = include_bytes!("../fixtures/robomimic_h5py.hdf5").to_vec();
    // The first demo's (12, 7) dataspace: current and maximum dimensions, u64 little-endian.
    let dims = [12u64, 7].iter().flat_map(|d| d.to_le_bytes()).collect::<Vec<u8>>();
    let at = bytes.windows(16).position(|w| w == dims.as_slice()).expect("the fixture's (12, 7) dataspace");
    for offset in [at, at + 16] {
        assert_eq!(&bytes[offset..offset + 16], dims.as_slice());
        bytes[offset..offset + 8].copy_from_slice(&(1u64 << 33).to_le_bytes());
    }
    let dir = tempdir();
    let path = dir.path().join("bomb.hdf5");
    std::fs::write(&path, &bytes).unwrap();
    let e = import_error(trajrnn::data::import::Format::Robomimic, &path);
    assert!(e.contains("bomb.hdf5") && e.contains("larger than the file could hold"), "{e}");
}

/// The message of an import that must fail.
#[cfg(feature = "import")]
fn import_error(format: trajrnn::data::import::Format, source: &Path) -> String {
    let mapping = trajrnn::data::import::Mapping::default();
    trajrnn::data::import::import(format, source, &mapping).map(drop).unwrap_err().to_string()
}

/// Copies a folder tree.
#[cfg(feature = "import")]
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A LeRobot parquet file whose first page header claims 2 GiB uncompressed (the parquet
/// reader would reserve that much before decoding; this test binary's allocator refuses it and
/// would abort) is refused with a message naming the file, the row group and the column. The
/// header is rewritten in place: the longer size is paid for by as many bytes of page data, so
/// every offset in the file stays valid.
#[cfg(feature = "import")]
#[test]
fn a_parquet_page_claiming_gigabytes_is_refused_without_allocating_them() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn read_varint(bytes: &[u8], pos: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let b = bytes[*pos];
            *pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                return v;
            }
        }
    }
    let dir = tempdir();
    let root = dir.path().join("lerobot");
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lerobot_v21"), &root);
    let file = root.join("data/chunk-000/episode_000000.parquet");
    let mut bytes = std::fs::read(&file).unwrap();
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes.clone())).unwrap();
    let column = reader.metadata().row_group(0).column(0).clone();
    let start = column.dictionary_page_offset().unwrap_or(column.data_page_offset()) as usize;
    // PageHeader (Thrift compact): field 1 type, 2 uncompressed size, 3 compressed size, each a
    // one-byte field header 0x15 and a zigzag varint, as parquet writes them.
    let mut pos = start;
    let mut fields = Vec::new();
    for _ in 0..3 {
        assert_eq!(bytes[pos], 0x15, "a page header where the metadata says");
        pos += 1;
        fields.push(read_varint(&bytes, &mut pos));
    }
    let compressed = fields[2] / 2;
    let mut header = Vec::new();
    let mut grown = usize::MAX;
    // The page keeps its length: the header grows by `grown` bytes, the data shrinks as much.
    for _ in 0..2 {
        header.clear();
        let smaller = compressed - if grown == usize::MAX { 0 } else { grown as u64 };
        for value in [fields[0], 2 * (i32::MAX as u64), 2 * smaller] {
            header.push(0x15);
            varint(value, &mut header);
        }
        grown = header.len() - (pos - start);
    }
    let data_end = pos + compressed as usize;
    bytes.splice(start..pos, header);
    bytes.drain(data_end..data_end + grown);
    std::fs::write(&file, &bytes).unwrap();
    let e = import_error(trajrnn::data::import::Format::Lerobot, &root);
    assert!(
        e.contains("episode_000000.parquet")
            && e.contains("row group 0")
            && e.contains("claims 2147483647 bytes")
            && e.contains("more than they could hold"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// Damaged checkpoints

/// Every byte of a checkpoint matters: with any one bit flipped, anywhere in the file (magic,
/// header length, JSON header, its checksum, the weights and their checksums), loading is an
/// error naming the file, never a panic and never a silent success. So is every truncation.
#[test]
fn a_checkpoint_with_any_byte_damaged_is_refused() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checkpoint_v4.ckpt");
    let bytes = std::fs::read(&fixture).unwrap();
    let dir = tempdir();
    let path = dir.path().join("damaged.ckpt");
    let device = device();
    let check = |damaged: &[u8], what: &str| {
        std::fs::write(&path, damaged).unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            trajrnn::checkpoint::load(&path, &device).map(drop)
        }));
        match outcome {
            Ok(Err(e)) => assert!(e.to_string().contains("damaged.ckpt"), "{what}: {e}"),
            Ok(Ok(())) => panic!("{what}: loaded"),
            Err(_) => panic!("{what}: panicked"),
        }
    };
    for i in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[i] ^= 1 << (i % 8);
        check(&damaged, &format!("bit {} of byte {i} flipped", i % 8));
    }
    for len in (0..bytes.len()).step_by(97) {
        check(&bytes[..len], &format!("truncated to {len} bytes"));
    }
}

// ---------------------------------------------------------------------------------------------
// Signals at any moment

/// SIGTERM, SIGINT or SIGKILL at a random moment of a training run (loading, an epoch, a
/// checkpoint write, the final evaluation), `TRAJRNN_SIGNAL_RUNS` times (default 50): every
/// checkpoint left loads, and the run then finishes: with `--resume` where a `last.ckpt` was
/// written, else from scratch with `--overwrite`. The long form of the signal test in `cli.rs`:
///     cargo test --test it -- --ignored signals_at_random_moments --nocapture
#[cfg(unix)]
#[test]
#[ignore]
fn signals_at_random_moments_lose_nothing() {
    let runs: usize = std::env::var("TRAJRNN_SIGNAL_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let dir = tempdir();
    let ds = write_dataset(dir.path(), &[240, 240, 240]);
    // About three seconds a run on the development machine: the signals land all along it.
    let config = recipe(dir.path(), 300);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let (mut resumed, mut interrupted) = (0, 0);
    for i in 0..runs {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let delay = std::time::Duration::from_millis((seed >> 33) % 3000);
        let signal = [libc::SIGTERM, libc::SIGINT, libc::SIGKILL][i % 3];
        let run = dir.path().join(format!("run{i}"));
        let mut child = Command::new(bin())
            .args(train_args(&config, &ds, &run))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        let status = child.wait().unwrap();
        interrupted += usize::from(!status.success());
        assert_whole(&run);
        let out = if run.join("last.ckpt").exists() {
            resumed += 1;
            trajrnn(&["train", "--resume", s(&run)])
        } else {
            let mut args = train_args(&config, &ds, &run);
            args.push("--overwrite");
            trajrnn(&args)
        };
        ok(&out);
        assert_whole(&run);
        eprintln!("run {i}: signal {signal} after {delay:?}: {status}; finished");
    }
    eprintln!("{runs} runs, {resumed} resumed from last.ckpt, {interrupted} interrupted");
    assert!(resumed > 0 && interrupted > runs / 2, "the signals must land during the runs");
}

/// Optional settings in a file: `none` or `off` in any case turn them off, a number of the wrong
/// kind or another word is an error naming the line, and a non-finite bound stays a bound that
/// the checks refuse (it is not read as "off").
#[test]
fn optional_settings_in_a_file_are_read_strictly() {
    let parse = |text: &str| trajrnn::RunConfig::parse(text, Path::new("run.toml"));
    let off = parse("[train]\npatience = \"Off\"\nclip_norm = \"NONE\"\n").unwrap();
    assert_eq!((off.train.patience, off.train.clip_norm), (None, None));
    for (text, words) in [
        ("[train]\npatience = -1\n", &["run.toml:2", "a number of the right kind"][..]),
        ("[train]\npatience = \"five\"\n", &["run.toml:2", "\"five\""][..]),
    ] {
        let e = parse(text).unwrap_err().to_string();
        assert!(words.iter().all(|w| e.contains(w)), "{text}: {e}");
    }
    let nan = parse("[train]\nclip_norm = nan\n").unwrap();
    let e = nan.validate().unwrap_err().to_string();
    assert!(e.contains("clip_norm"), "{e}");
}

/// A resumed run may add epochs, never remove them, whoever asks (the library as the command line).
#[test]
fn a_resumed_run_may_only_add_epochs() {
    let dir = tempdir();
    let ds = write_dataset(dir.path(), &[240, 240, 240]);
    let config = recipe(dir.path(), 3);
    let run = dir.path().join("run");
    ok(&trajrnn(&train_args(&config, &ds, &run)));
    let mut c = trajrnn::RunConfig::load(&run.join("config.toml")).unwrap();
    c.run_dir = run.clone();
    c.train.epochs = 2;
    let options = trajrnn::run::TrainOptions { resume: true, ..Default::default() };
    let e = trajrnn::run::train(&c, options, &mut trajrnn::run::quiet, None).err().map(|e| e.to_string());
    assert!(e.as_deref().is_some_and(|e| e.contains("may only add epochs") && e.contains("set to 3")), "{e:?}");
    let e = err(&trajrnn(&["train", "--resume", s(&run), "--epochs", "1"]));
    assert!(e.contains("may only add epochs"), "{e}");
    // Adding epochs rewrites the run's own config.toml with them, and nothing else.
    let before = std::fs::read_to_string(run.join("config.toml")).unwrap();
    ok(&trajrnn(&["train", "--resume", s(&run), "--epochs", "4"]));
    let after = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert_eq!(after, before.replace("epochs = 3", "epochs = 4"));
}
