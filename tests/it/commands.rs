//! Commands (what was sent to the robot at each frame) through the dataset format, the
//! importers, the baselines that read them, training, checkpoints and the streaming predictor.

use std::path::Path;

use trajrnn::baselines::{Arx, Baseline, Context, LaggedCommand};
use trajrnn::data::dataset::CommandChannel;
use trajrnn::data::{Dataset, DatasetMeta, Episode, Segment, SplitConfig};
use trajrnn::eval::EvalConfig;
use trajrnn::run::{self, RunConfig, TrainOptions};
use trajrnn::train::TrainConfig;

use crate::common::*;

/// A follower that tracks its command with a lag of two frames and a gain of 0.3, plus a
/// gripper that follows its own command: `q[t+1] = q[t] + 0.3·(u[t−2] − q[t])`. The commands are
/// smooth and differ from episode to episode.
fn follower(episodes: usize, frames: usize) -> Dataset {
    let names = vec!["j0".to_string(), "j1".to_string()];
    let mut meta = DatasetMeta::new("follower", "test", 50.0, names, vec!["g".into()]);
    meta.commands = ["j0", "j1", "g"]
        .iter()
        .map(|c| CommandChannel { name: format!("action.{c}"), unit: None, drives: Some(c.to_string()) })
        .collect();
    let eps = (0..episodes)
        .map(|e| {
            let command = |t: usize, c: usize| {
                let x = t as f64 * 0.02 + e as f64 * 0.9 + c as f64 * 1.7;
                ((1.1 + 0.2 * c as f64) * x).sin() * 0.8 + 0.3 * (0.37 * x).cos()
            };
            let mut q = [0f64; 3];
            let mut states = Vec::with_capacity(frames * 3);
            let mut commands = Vec::with_capacity(frames * 3);
            for t in 0..frames {
                states.extend(q.iter().map(|&v| v as f32));
                commands.extend((0..3).map(|c| command(t, c) as f32));
                for (c, v) in q.iter_mut().enumerate() {
                    let lagged = if t >= 2 { command(t - 2, c) } else { 0.0 };
                    *v += 0.3 * (lagged - *v);
                }
            }
            let time = (0..frames).map(|t| t as f64 * 0.02).collect();
            Episode::new(format!("episode_{e:03}"), format!("mem/episode_{e:03}"), time, states, 3)
                .with_commands(commands)
        })
        .collect();
    Dataset::new(meta, eps, Path::new("mem")).unwrap()
}

#[cfg(feature = "import")]
fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[test]
fn a_dataset_with_commands_round_trips_through_its_folder() {
    let dir = tempdir();
    let ds = follower(2, 40);
    ds.save(&dir.path().join("ds"), &[]).unwrap();
    let back = Dataset::load(dir.path().join("ds")).unwrap();
    assert_eq!(back.meta.commands, ds.meta.commands);
    for (a, b) in back.episodes.iter().zip(&ds.episodes) {
        assert_eq!((&a.states, &a.commands), (&b.states, &b.commands));
    }
    let csv = std::fs::read_to_string(dir.path().join("ds/episodes/episode_000.csv")).unwrap();
    assert!(csv.lines().next().unwrap().ends_with("action.j0,action.j1,action.g"), "{csv}");
}

#[test]
fn command_errors_name_the_file_line_and_column() {
    let dir = tempdir();
    follower(2, 20).save(&dir.path().join("ds"), &[]).unwrap();
    let root = dir.path().join("ds");
    let file = root.join("episodes/episode_001.csv");
    let csv = std::fs::read_to_string(&file).unwrap();
    let load = || Dataset::load(&root).map(|_| ()).unwrap_err().to_string();
    // A missing command column.
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let at = header.iter().position(|h| *h == "action.j1").unwrap();
    let dropped: String = csv
        .lines()
        .map(|l| {
            l.split(',').enumerate().filter(|(i, _)| *i != at).map(|(_, v)| v).collect::<Vec<_>>().join(",") + "\n"
        })
        .collect();
    std::fs::write(&file, dropped).unwrap();
    let e = load();
    assert!(e.contains("episode_001.csv:1") && e.contains("action.j1") && e.contains("missing"), "{e}");
    // A command that is not a number.
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    let mut fields: Vec<String> = lines[5].split(',').map(String::from).collect();
    fields[at] = "NaN".into();
    lines[5] = fields.join(",");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let e = load();
    assert!(e.contains("episode_001.csv:6") && e.contains("`action.j1`") && e.contains("not finite"), "{e}");
    // In memory: commands for another number of frames, or none where the dataset names some.
    let ds = follower(1, 10);
    let mut short = ds.episodes[0].clone();
    short.commands.as_mut().unwrap().truncate(9);
    let e = Dataset::new(ds.meta.clone(), vec![short], Path::new("mem")).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("9 command values for 10 frames of 3 command channels"), "{e}");
    let mut none = ds.episodes[0].clone();
    none.commands = None;
    let e = Dataset::new(ds.meta.clone(), vec![none], Path::new("mem")).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("no commands"), "{e}");
    // A command that names a channel the dataset does not have.
    let mut meta = ds.meta.clone();
    meta.commands[1].drives = Some("elbow".into());
    let e = Dataset::new(meta, ds.episodes.clone(), Path::new("dataset.json")).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("dataset.json") && e.contains("`commands[1].drives`") && e.contains("elbow"), "{e}");
}

#[cfg(feature = "import")]
#[test]
fn lerobot_actions_become_command_channels() {
    use trajrnn::data::import::{Format, Mapping, import};
    for version in ["lerobot_v21", "lerobot_v30"] {
        let ds = import(Format::Lerobot, &fixture(version), &Mapping::default()).unwrap().dataset;
        assert_eq!(ds.meta.command_dim(), 6, "{version}");
        assert_eq!(ds.meta.commands[0].name, "action.shoulder_pan.pos");
        assert_eq!(ds.meta.commands[0].drives.as_deref(), Some("shoulder_pan.pos"));
        // The fixture's actions equal its states.
        for e in &ds.episodes {
            for t in 0..e.len() {
                assert_eq!(e.command(t), e.frame(t), "{version} {} frame {t}", e.name);
            }
        }
    }
    let none = Mapping { no_commands: true, ..Mapping::default() };
    assert_eq!(import(Format::Lerobot, &fixture("lerobot_v21"), &none).unwrap().dataset.meta.command_dim(), 0);
    let missing = Mapping { action_key: Some("act".into()), ..Mapping::default() };
    let e = import(Format::Lerobot, &fixture("lerobot_v21"), &missing).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("info.json") && e.contains("features.act") && e.contains("--action-key"), "{e}");
}

#[test]
fn csv_commands_are_kept_and_paired_by_name() {
    use trajrnn::data::import::{Format, Mapping, import};
    let dir = tempdir();
    let file = dir.path().join("log.csv");
    let mut csv = String::from("time,j0,j1,action_j0,target_speed\n");
    for t in 0..30 {
        csv += &format!("{},{},{},{},{}\n", t as f64 * 0.1, t, 2 * t, t + 1, 0.5);
    }
    std::fs::write(&file, csv).unwrap();
    let mapping = Mapping { commands: Some(vec!["action_j0".into(), "target_speed".into()]), ..Mapping::default() };
    let ds = import(Format::Csv, &file, &mapping).unwrap().dataset;
    assert_eq!(ds.meta.joints, ["j0", "j1"], "commands are not joints");
    assert_eq!(ds.meta.commands[0].drives.as_deref(), Some("j0"));
    assert_eq!(ds.meta.commands[1].drives, None);
    assert_eq!(ds.episodes[0].command(3), [4.0, 0.5]);
}

/// ARX recovers a linear system exactly and rolls it out with the commands of the predicted
/// frames.
#[test]
fn arx_is_fitted_exactly_on_a_linear_system() {
    let ds = follower(3, 300);
    let train: Vec<Segment> = (0..2).map(|e| Segment::whole(&ds, e)).collect();
    let arx = Arx::fit(&ds, &train, 4, 1e-12).unwrap();
    let e = &ds.episodes[2];
    let (warm, horizon) = (40, 60);
    let context =
        Context { states: e.frames(0..warm), dim: 3, commands: e.commands_of(0..warm + horizon), command_dim: 3 };
    let mut out = vec![0f32; horizon * 3];
    arx.rollout(&context, horizon, &mut out);
    for k in 0..horizon {
        for c in 0..3 {
            let want = e.frame(warm + k)[c];
            assert!((out[k * 3 + c] - want).abs() < 1e-4, "step {k} channel {c}: {} vs {want}", out[k * 3 + c]);
        }
    }
    // The lagged-command rule finds the two-frame lag (not the tracking dynamics).
    let lagged = LaggedCommand::fit(&ds, &train, &[Some(0), Some(1), Some(2)]);
    assert!(lagged.follows.iter().all(|f| f.is_some_and(|f| (3..=6).contains(&f.lag))), "{:?}", lagged.follows);
}

fn config(root: &Path, run_dir: &Path) -> RunConfig {
    let mut c = RunConfig { dataset: root.to_path_buf(), run_dir: run_dir.to_path_buf(), ..RunConfig::default() };
    c.model.hidden = 12;
    c.data.context = 16;
    c.data.split = SplitConfig { gap: 8, ..SplitConfig::default() };
    c.baselines.ar_order = 4;
    c.eval = EvalConfig { warmup: 12, horizons: vec![1, 5, 20], stride: 5 };
    c.train = TrainConfig { epochs: 2, rollout_steps: 4, patience: None, ..c.train };
    c
}

/// A model trained with commands: the checkpoint records them and refuses data without them;
/// the streaming predictor needs them and gives, with them, what the burn model gives.
#[test]
fn a_model_with_commands_needs_them_and_streams_what_it_computes() {
    let dir = tempdir();
    let root = dir.path().join("ds");
    follower(12, 120).save(&root, &[]).unwrap();
    let run_dir = dir.path().join("run");
    let mut c = config(&root, &run_dir);
    c.model.members = 2;
    let trained = run::train(&c, TrainOptions::default(), &mut run::quiet, None).unwrap();
    let names: Vec<&str> = trained.report.predictor_names();
    assert!(names.contains(&"arx") && names.contains(&"lag_cmd"), "{names:?}");
    assert_eq!(trained.meta.data.commands, ["action.j0", "action.j1", "action.g"]);
    assert_eq!(trained.meta.encoding.command_dim(), 3);
    // Data without the commands is refused, naming them.
    let plain = dir.path().join("plain");
    let ds = Dataset::load(&root).unwrap();
    let mut meta = ds.meta.clone();
    meta.commands.clear();
    let stripped: Vec<Episode> = ds.episodes.iter().map(|e| Episode { commands: None, ..e.clone() }).collect();
    Dataset::new(meta, stripped, &plain).unwrap().save(&plain, &[]).unwrap();
    let e =
        run::apply_checkpoint(&trained.best_checkpoint, &plain, &device(), &mut run::quiet).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("command channels") && e.to_string().contains("action.j0"), "{e}");
    // Streaming: commands are required, and host and burn agree with the batched rollout.
    let mut host = trajrnn::Predictor::load_host(&trained.best_checkpoint).unwrap();
    let mut burn_side = trajrnn::Predictor::load(&trained.best_checkpoint, &device()).unwrap();
    assert!(host.observe(&[0.0; 3]).unwrap_err().to_string().contains("observe_with"));
    let episode = &ds.episodes[3];
    let warm = 20;
    for t in 0..warm {
        let a = host.observe_with(episode.frame(t), episode.command(t)).unwrap().map(<[f32]>::to_vec);
        let b = burn_side.observe_with(episode.frame(t), episode.command(t)).unwrap().map(<[f32]>::to_vec);
        if let (Some(a), Some(b)) = (a, b) {
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-5, "frame {t}: host {x} vs burn {y}");
            }
        }
    }
    let horizon = 10;
    let planned = episode.commands_of(warm..warm + horizon);
    let model = trajrnn::checkpoint::load(&trained.best_checkpoint, &device()).unwrap();
    let context = Context {
        states: episode.frames(0..warm),
        dim: 3,
        commands: episode.commands_of(0..warm + horizon),
        command_dim: 3,
    };
    let reference =
        trajrnn::rollout::rollout(&model.model, &model.meta.encoding, &[context], horizon, &device()).unwrap();
    for p in [&host, &burn_side] {
        let mine = p.rollout_with(planned, horizon).unwrap();
        for (k, (x, y)) in mine.iter().zip(&reference.states).enumerate() {
            assert!((x - y).abs() < 1e-5, "rollout value {k}: {x} vs {y}");
        }
    }
    assert!(host.rollout(3).is_err(), "a command model's rollout needs the commands");
    assert!(host.rollout_with(&planned[..5], horizon).is_err(), "one command per predicted frame");
}

/// A state-only model trained on data that has commands (`data.encoding.commands = false`):
/// its rules do without the commands too, so its checkpoint loads, streams state alone and
/// evaluates on the same data.
#[test]
fn a_state_only_model_on_data_with_commands_loads_and_streams() {
    let dir = tempdir();
    let root = dir.path().join("ds");
    follower(12, 120).save(&root, &[]).unwrap();
    let mut c = config(&root, &dir.path().join("run"));
    c.data.encoding.commands = false;
    let trained = run::train(&c, TrainOptions::default(), &mut run::quiet, None).unwrap();
    assert!(trained.meta.data.commands.is_empty());
    let names: Vec<&str> = trained.report.predictor_names();
    assert!(!names.contains(&"arx") && !names.contains(&"lag_cmd"), "{names:?}");
    let mut host = trajrnn::Predictor::load_host(&trained.best_checkpoint).unwrap();
    let ds = Dataset::load(&root).unwrap();
    for t in 0..20 {
        host.observe(ds.episodes[0].frame(t)).unwrap();
    }
    assert_eq!(host.rollout(5).unwrap().len(), 5 * 3);
    run::apply_checkpoint(&trained.best_checkpoint, &root, &device(), &mut run::quiet).unwrap();
}

/// A command plan read from a CSV drives one rollout: with the recorded commands it is the
/// batched rollout; with others the prediction changes. The plan file is checked like an
/// episode file, and `view`/`rollout --commands` recordings carry the commanded series.
#[test]
fn a_command_plan_drives_a_rollout() {
    let dir = tempdir();
    let root = dir.path().join("ds");
    follower(12, 120).save(&root, &[]).unwrap();
    let c = config(&root, &dir.path().join("run"));
    let trained = run::train(&c, TrainOptions::default(), &mut run::quiet, None).unwrap();
    let ds = Dataset::load(&root).unwrap();
    let episode = &ds.episodes[2];
    let (warm, horizon) = (20, 30);
    let write_plan = |path: &Path, rows: &[f32]| {
        let mut text = String::from("time,action.g,action.j0,action.j1\n"); // any column order
        for (k, r) in rows.chunks_exact(3).enumerate() {
            text += &format!("{},{},{},{}\n", k as f64 * 0.02, r[2], r[0], r[1]);
        }
        std::fs::write(path, text).unwrap();
    };
    let recorded = episode.commands_of(warm..warm + horizon);
    let plan_file = dir.path().join("plan.csv");
    write_plan(&plan_file, recorded);
    let plan = trajrnn::data::csv_episode::read_commands(&plan_file, &ds.meta).unwrap();
    assert_eq!(plan, recorded);

    let model = trajrnn::checkpoint::load(&trained.best_checkpoint, &device()).unwrap();
    let (enc, observed, sent) = (&model.meta.encoding, episode.frames(0..warm), episode.commands_of(0..warm));
    let track = trajrnn::rollout::planned_track(&model.model, enc, observed, sent, &plan, &device()).unwrap();
    let context =
        Context { states: observed, dim: 3, commands: episode.commands_of(0..warm + horizon), command_dim: 3 };
    let reference = trajrnn::rollout::rollout(&model.model, enc, &[context], horizon, &device()).unwrap();
    assert_eq!((track.start, track.states.len()), (warm, horizon * 3));
    for (x, y) in track.states.iter().zip(&reference.states) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }
    // Holding every command at 2.0 (outside the recorded range) changes what is predicted.
    let held = vec![2.0f32; horizon * 3];
    let other = trajrnn::rollout::planned_track(&model.model, enc, observed, sent, &held, &device()).unwrap();
    let moved = other.states.iter().zip(&track.states).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(moved > 1e-3, "the plan did not change the prediction ({moved})");

    // A plan missing a command column is refused with the file and the column.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "time,action.j0,action.j1\n0,1,2\n").unwrap();
    let e = trajrnn::data::csv_episode::read_commands(&bad, &ds.meta).unwrap_err().to_string();
    assert!(e.contains("bad.csv") && e.contains("action.g"), "{e}");

    #[cfg(feature = "rerun")]
    {
        use trajrnn::viz::Sink;
        let applied = run::apply_checkpoint(&trained.best_checkpoint, &root, &device(), &mut run::quiet).unwrap();
        let segment = Segment::whole(&applied.dataset, 2);
        let out = dir.path().join("plan.rrd");
        let written = trajrnn::viz::record_rollouts(
            &applied,
            &segment,
            50,
            Some(warm),
            Some(&held),
            &Sink::File(out.clone()),
            &device(),
        );
        assert_eq!(written.unwrap(), Some(out.clone()));
        let text = String::from_utf8_lossy(&std::fs::read(&out).unwrap()).into_owned();
        for entity in ["joints/j0/commanded", "joints/j0/predicted", "joints/g/observed", "hidden/units"] {
            assert!(text.contains(entity), "{entity} missing from the rollout recording");
        }
        // A plan longer than the episode after the warm-up is refused up front.
        let long = vec![0f32; 200 * 3];
        let e = trajrnn::viz::record_rollouts(
            &applied,
            &segment,
            50,
            Some(warm),
            Some(&long),
            &Sink::File(out.clone()),
            &device(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--commands") && e.contains("200 rows"), "{e}");
        // `view`: the dataset alone, with its commands and no hidden state.
        let view = dir.path().join("view.rrd");
        trajrnn::viz::record_episode(&ds, 0, None, &Sink::File(view.clone())).unwrap();
        let text = String::from_utf8_lossy(&std::fs::read(&view).unwrap()).into_owned();
        assert!(text.contains("joints/j1/commanded") && text.contains("joints/j1/observed"));
        assert!(!text.contains("hidden/units") && !text.contains("/predicted"), "a dataset view has no model");
    }
}
