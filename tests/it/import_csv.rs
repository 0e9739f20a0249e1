//! `trajrnn import csv`: files built here, frames checked value for value.

use trajrnn::data::dataset::{AngleUnit, TimeUnit};
use trajrnn::data::import::{Format, Mapping, import};
use trajrnn::data::{Dataset, SplitConfig, SplitMode};

use crate::common::*;

fn names(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|s| s.to_string()).collect())
}

#[test]
fn one_file_per_episode_with_default_roles() {
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(
        src.join("b.csv"),
        "time,elbow,shoulder,gripper_pos\n0.0,1.5,0.5,0.01\n0.1,1.25,0.75,0.02\n0.2,1,1,0.03\n",
    )
    .unwrap();
    std::fs::write(
        src.join("a.csv"),
        "shoulder,time,gripper_pos,elbow\n-1,0,0,2\n-2,0.1,0,3\n-3,0.2,0,4\n0.25,0.3,0,5\n",
    )
    .unwrap();
    std::fs::write(src.join("notes.txt"), "not an episode").unwrap();
    let imported = import(Format::Csv, &src, &Mapping { name: Some("mine".into()), ..Mapping::default() }).unwrap();
    let ds = &imported.dataset;
    // Header order of the first file (a.csv): shoulder, then elbow; gripper by its name.
    assert_eq!(ds.meta.joints, ["shoulder", "elbow"]);
    assert_eq!(ds.meta.gripper, ["gripper_pos"]);
    assert_eq!(ds.meta.name, "mine");
    assert_eq!(ds.meta.rate_hz, 10.0);
    let names: Vec<&str> = ds.episodes.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(ds.episodes[0].time, [0.0, 0.1, 0.2, 0.3]);
    assert_eq!(ds.episodes[0].states, [-1.0, 2.0, 0.0, -2.0, 3.0, 0.0, -3.0, 4.0, 0.0, 0.25, 5.0, 0.0]);
    assert_eq!(ds.episodes[1].states, [0.5, 1.5, 0.01, 0.75, 1.25, 0.02, 1.0, 1.0, 0.03]);
    assert_eq!((imported.report.episodes, imported.report.frames), (2, 7));

    // Written in our format and loaded back: the same values.
    let out = dir.path().join("out");
    imported.save(&out).unwrap();
    let loaded = Dataset::load(&out).unwrap();
    assert_eq!(loaded.meta.channels(), ds.meta.channels());
    for (a, b) in loaded.episodes.iter().zip(&ds.episodes) {
        assert_eq!((&a.name, &a.time, &a.states), (&b.name, &b.time, &b.states));
    }
}

#[test]
fn episode_column_units_mapping_and_duplicates() {
    let dir = tempdir();
    let file = dir.path().join("log.csv");
    std::fs::write(
        &file,
        "t_ms,ep,j1,j2,grip,torque\n\
         0,run 1,90,0,0.5,7\n\
         10,run 1,180,-90,0.5,7\n\
         10,run 1,180,-90,0.5,7\n\
         20,run 1,270,45,0.5,7\n\
         0,run/2,0,0,1,7\n\
         10,run/2,1,2,1,7\n\
         20,run/2,2,4,1,7\n",
    )
    .unwrap();
    let mapping_file = dir.path().join("map.toml");
    std::fs::write(
        &mapping_file,
        "name = \"lab\"\nrobot = \"arm2\"\ntime_column = \"t_ms\"\ntime_unit = \"ms\"\nepisode_column = \"ep\"\n\
         joints = [\"j2\", \"j1\"]\ngripper = [\"grip\"]\nangle_unit = \"deg\"\n",
    )
    .unwrap();
    let mapping =
        Mapping::load(&mapping_file).unwrap().overridden_by(Mapping { drop_duplicates: true, ..Mapping::default() });
    assert_eq!(mapping.angle_unit, Some(AngleUnit::Degrees));
    assert_eq!(mapping.time_unit, Some(TimeUnit::Milliseconds));
    let imported = import(Format::Csv, &file, &mapping).unwrap();
    let ds = &imported.dataset;
    assert_eq!(imported.report.dropped_duplicates, 1);
    assert_eq!(imported.report.ignored, ["torque"]);
    assert_eq!(ds.meta.joints, ["j2", "j1"]);
    assert_eq!((ds.meta.rate_hz, ds.meta.robot.as_str()), (100.0, "arm2"));
    // Episode labels become safe file names; times in seconds, joints in radians.
    let names: Vec<&str> = ds.episodes.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["run_1", "run_2"]);
    assert_eq!(ds.episodes[0].time, [0.0, 0.01, 0.02]);
    let d = |x: f32| x.to_radians();
    assert_eq!(ds.episodes[0].states, [0.0, d(90.0), 0.5, d(-90.0), d(180.0), 0.5, d(45.0), d(270.0), 0.5]);
    assert_eq!(ds.episodes[1].frame(2), [d(4.0), d(2.0), 1.0]);
}

#[test]
fn a_trajrnn_folder_is_rewritten_without_its_duplicates() {
    let dir = tempdir();
    let root = write_dataset(dir.path(), &[20, 20]);
    let csv = std::fs::read_to_string(root.join("episodes/episode_000.csv")).unwrap();
    let third = csv.lines().nth(3).unwrap().to_string();
    let doubled = csv.replacen(&format!("{third}\n"), &format!("{third}\n{third}\n"), 1);
    std::fs::write(root.join("episodes/episode_000.csv"), doubled).unwrap();
    assert!(Dataset::load(&root).is_err(), "the loader rejects the repeated frame");
    let imported = import(Format::Csv, &root, &Mapping { drop_duplicates: true, ..Mapping::default() }).unwrap();
    assert_eq!(imported.report.dropped_duplicates, 1);
    let out = dir.path().join("clean");
    imported.save(&out).unwrap();
    assert_eq!(Dataset::load(&out).unwrap().episodes[0].len(), 20);
}

#[test]
fn csv_errors_name_file_line_and_column() {
    let dir = tempdir();
    let err = |body: &str, mapping: Mapping| {
        let file = dir.path().join("e.csv");
        std::fs::write(&file, body).unwrap();
        import(Format::Csv, &file, &mapping).expect_err("must be rejected").to_string()
    };
    let m = Mapping::default;
    let e = err("time,j\n0,1\n0.1,x\n0.2,3\n", m());
    assert!(e.contains("e.csv:3") && e.contains("`j`") && e.contains("\"x\" is not a number"), "{e}");
    let e = err("time,j\n0,1\n0.1,NaN\n0.2,3\n", m());
    assert!(e.contains("e.csv:3") && e.contains("not finite"), "{e}");
    let e = err("time,j\n0,1\n0.1,2\n0.05,3\n", m());
    assert!(e.contains("e.csv:4") && e.contains("`time`") && e.contains("must increase"), "{e}");
    let e = err("stamp,j\n0,1\n", m());
    assert!(e.contains("e.csv:1") && e.contains("no time column"), "{e}");
    let e = err("time,j\n0,1\n0.1,2,3\n", m());
    assert!(e.contains("e.csv:3") && e.contains("ragged"), "{e}");
    let e = err("time,j\n0,1\n0.1,2\n0.2,3\n", Mapping { joints: names(&["k"]), ..m() });
    assert!(e.contains("e.csv:1") && e.contains("\"k\""), "{e}");
    let e = err(
        "time,ep,j\n0,a,1\n0.1,a,2\n0.2,a,3\n0,b,1\n0.1,b,1\n0.2,b,1\n0.3,a,4\n",
        Mapping { episode_column: Some("ep".into()), ..m() },
    );
    assert!(e.contains("e.csv:8") && e.contains("`ep`") && e.contains("appears again"), "{e}");
    let e = err("time,gripper\n0,1\n0.1,2\n0.2,3\n", m());
    assert!(e.contains("no arm joint"), "{e}");
    let e = err("", m());
    assert!(e.contains("e.csv") && e.contains("empty"), "{e}");
}

#[test]
fn mapping_file_errors_name_the_line() {
    let dir = tempdir();
    let file = dir.path().join("map.toml");
    std::fs::write(&file, "name = \"x\"\n\njionts = [\"a\"]\n").unwrap();
    let e = Mapping::load(&file).unwrap_err().to_string();
    assert!(e.contains("map.toml:3") && e.contains("jionts"), "{e}");
}

#[test]
fn a_declared_split_is_used_in_auto_and_declared_modes() {
    let dir = tempdir();
    let root = write_dataset(dir.path(), &[30, 30, 30, 30]);
    let mut meta: serde_json::Value = serde_json::from_str(META).unwrap();
    meta["split"] = serde_json::json!({"train": ["episode_003", "episode_001"], "valid": ["episode_000"]});
    std::fs::write(root.join("dataset.json"), meta.to_string()).unwrap();
    let ds = Dataset::load(&root).unwrap();
    for mode in [SplitMode::Auto, SplitMode::Declared] {
        let s = trajrnn::data::split::split_dataset(&ds, &SplitConfig { mode, ..SplitConfig::default() }).unwrap();
        let mut fitted: Vec<usize> = s.train.iter().chain(&s.valid).map(|g| g.episode).collect();
        fitted.sort();
        let test: Vec<usize> = s.test.iter().map(|g| g.episode).collect();
        // The declared validation episode is held out for the test; validation comes from the
        // declared training episodes; episode 2 is in no list and unused.
        assert_eq!((fitted, test, s.valid.len()), (vec![1, 3], vec![0], 1), "{mode:?}");
    }
    // Episodes mode ignores it.
    let s =
        trajrnn::data::split::split_dataset(&ds, &SplitConfig { mode: SplitMode::Episodes, ..SplitConfig::default() })
            .unwrap();
    assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (2, 1, 1));
    // A split naming an episode the dataset lacks is an error naming the field.
    meta["split"] = serde_json::json!({"train": ["episode_009"], "valid": []});
    std::fs::write(root.join("dataset.json"), meta.to_string()).unwrap();
    let e = Dataset::load(&root).unwrap_err().to_string();
    assert!(e.contains("dataset.json") && e.contains("split.train") && e.contains("episode_009"), "{e}");
    // Declared mode without a declared split.
    let plain = Dataset::load(write_dataset(&dir.path().join("plain"), &[30, 30])).unwrap();
    let e = trajrnn::data::split::split_dataset(
        &plain,
        &SplitConfig { mode: SplitMode::Declared, ..SplitConfig::default() },
    );
    assert!(e.unwrap_err().to_string().contains("declared"));
}

#[cfg(not(feature = "import"))]
#[test]
fn heavy_formats_say_which_feature_they_need() {
    let e = import(Format::Lerobot, std::path::Path::new("x"), &Mapping::default()).unwrap_err().to_string();
    assert!(e.contains("--features import"), "{e}");
}

#[test]
fn the_import_command_writes_a_dataset_and_says_what_it_did() {
    let dir = tempdir();
    let file = dir.path().join("log.csv");
    std::fs::write(&file, "t,a,b,claw\n0,1,2,0\n10,1.5,2.5,0\n10,1.5,2.5,0\n20,2,3,1\n").unwrap();
    let out = dir.path().join("imported");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_trajrnn"))
        .args(["import", "csv"])
        .arg(&file)
        .arg(&out)
        .args(["--time-column", "t", "--time-unit", "ms", "--joints", "b,a", "--gripper", "claw", "--drop-duplicates"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
    assert!(
        stdout.contains("1 episodes, 3 frames at 100 Hz") && stdout.contains("dropped duplicate frames: 1"),
        "{stdout}"
    );
    let ds = Dataset::load(&out).unwrap();
    assert_eq!(
        (ds.meta.name.as_str(), ds.meta.channels()),
        ("imported", vec!["b".to_string(), "a".into(), "claw".into()])
    );
    assert_eq!(ds.episodes[0].time, [0.0, 0.01, 0.02]);
    // The output folder is never overwritten.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_trajrnn"))
        .args(["import", "csv"])
        .arg(&file)
        .arg(&out)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}
