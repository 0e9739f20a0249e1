//! LeRobot v2.1 and v3.0 imports: fixtures written by pyarrow (tests/fixtures/make_fixtures.py)
//! and folders built here with parquet's ArrowWriter.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
use arrow_array::{ArrayRef, Float32Array, Int64Array, RecordBatch};
use parquet::arrow::ArrowWriter;
use trajrnn::data::dataset::AngleUnit;
use trajrnn::data::import::lerobot::{MemoryFiles, import_files};
use trajrnn::data::import::{Format, Mapping, import};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The formula of tests/fixtures/make_fixtures.py.
fn state(t: usize, k: usize, e: usize) -> f32 {
    0.5 * k as f32 + 0.25 * t as f32 + e as f32
}

#[test]
fn v21_and_v30_fixtures_give_the_same_frames() {
    for version in ["lerobot_v21", "lerobot_v30"] {
        let imported = import(Format::Lerobot, &fixture(version), &Mapping::default()).unwrap();
        let ds = &imported.dataset;
        assert_eq!(
            ds.meta.joints,
            ["shoulder_pan.pos", "shoulder_lift.pos", "elbow_flex.pos", "wrist_flex.pos", "wrist_roll.pos"],
            "{version}"
        );
        assert_eq!(ds.meta.gripper, ["gripper.pos"]);
        assert_eq!((ds.meta.rate_hz, ds.meta.robot.as_str()), (30.0, "so100_follower"));
        let names: Vec<&str> = ds.episodes.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["episode_000000", "episode_000001"]);
        for (e, episode) in ds.episodes.iter().enumerate() {
            assert_eq!(episode.len(), [7, 4][e]);
            for t in 0..episode.len() {
                let expected: Vec<f32> = (0..6).map(|k| state(t, k, e)).collect();
                assert_eq!(episode.frame(t), expected, "{version} episode {e} frame {t}");
                // float32 timestamps t/30, widened through their shortest decimal form.
                let ts = t as f32 / 30.0;
                assert_eq!(episode.time[t], ts.to_string().parse::<f64>().unwrap());
            }
        }
    }
}

#[test]
fn degrees_are_converted_when_declared() {
    let mapping = Mapping { angle_unit: Some(AngleUnit::Degrees), ..Mapping::default() };
    let ds = import(Format::Lerobot, &fixture("lerobot_v21"), &mapping).unwrap().dataset;
    assert_eq!(ds.episodes[0].frame(2)[1], state(2, 1, 0).to_radians());
    assert_eq!(ds.episodes[0].frame(2)[5], state(2, 5, 0), "the gripper is not an angle");
}

/// A v3.0 folder in memory: `lengths` episodes in one data file, with `edit` applied to the
/// data columns (state, timestamp, frame_index, episode_index, index) before writing.
pub fn v30_files(lengths: &[usize], edit: impl FnOnce(&mut Columns)) -> MemoryFiles {
    let mut c = Columns::default();
    let mut start = 0;
    for (e, &n) in lengths.iter().enumerate() {
        for t in 0..n {
            c.state.push((0..3).map(|k| state(t, k, e)).collect());
            c.timestamp.push(t as f32 / 10.0);
            c.frame_index.push(t as i64);
            c.episode_index.push(e as i64);
            c.index.push((start + t) as i64);
        }
        start += n;
    }
    edit(&mut c);
    let mut files = MemoryFiles::default();
    let info = serde_json::json!({
        "codebase_version": "v3.0", "fps": 10, "robot_type": "toy",
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "features": {"observation.state": {"dtype": "float32", "shape": [3], "names": ["a", "b", "finger"]}}
    });
    files.0.insert("meta/info.json".into(), info.to_string().into_bytes());
    files.0.insert("data/chunk-000/file-000.parquet".into(), c.parquet());
    let mut from = 0i64;
    let (mut idx, mut ch, mut fi, mut fr, mut to) = (vec![], vec![], vec![], vec![], vec![]);
    for (e, &n) in lengths.iter().enumerate() {
        idx.push(e as i64);
        ch.push(0i64);
        fi.push(0i64);
        fr.push(from);
        to.push(from + n as i64);
        from += n as i64;
    }
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("episode_index", Arc::new(Int64Array::from(idx))),
        ("data/chunk_index", Arc::new(Int64Array::from(ch))),
        ("data/file_index", Arc::new(Int64Array::from(fi))),
        ("dataset_from_index", Arc::new(Int64Array::from(fr))),
        ("dataset_to_index", Arc::new(Int64Array::from(to))),
    ];
    files.0.insert("meta/episodes/chunk-000/file-000.parquet".into(), write(RecordBatch::try_from_iter(cols).unwrap()));
    files
}

#[derive(Default, Clone)]
pub struct Columns {
    pub state: Vec<Vec<f32>>,
    pub timestamp: Vec<f32>,
    pub frame_index: Vec<i64>,
    pub episode_index: Vec<i64>,
    pub index: Vec<i64>,
}

impl Columns {
    fn parquet(&self) -> Vec<u8> {
        let width = self.state.first().map_or(3, Vec::len) as i32;
        let mut b = FixedSizeListBuilder::new(Float32Builder::new(), width);
        for row in &self.state {
            b.values().append_slice(row);
            b.append(true);
        }
        let cols: Vec<(&str, ArrayRef)> = vec![
            ("observation.state", Arc::new(b.finish())),
            ("timestamp", Arc::new(Float32Array::from(self.timestamp.clone()))),
            ("frame_index", Arc::new(Int64Array::from(self.frame_index.clone()))),
            ("episode_index", Arc::new(Int64Array::from(self.episode_index.clone()))),
            ("index", Arc::new(Int64Array::from(self.index.clone()))),
        ];
        write(RecordBatch::try_from_iter(cols).unwrap())
    }
}

fn write(batch: RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

fn run(files: &MemoryFiles) -> Result<trajrnn::data::import::Imported, String> {
    import_files(files, "mem", Path::new("mem"), &Mapping::default()).map_err(|e| e.to_string())
}

#[test]
fn in_memory_v30_folder_imports() {
    let imported = run(&v30_files(&[5, 3], |_| {})).unwrap();
    let ds = &imported.dataset;
    assert_eq!((ds.meta.joints.len(), ds.meta.gripper.clone()), (2, vec!["finger".to_string()]));
    assert_eq!(ds.episodes[1].frame(2), [state(2, 0, 1), state(2, 1, 1), state(2, 2, 1)]);
}

#[test]
fn lerobot_errors_name_file_row_and_column() {
    let e = run(&v30_files(&[5, 3], |c| c.frame_index[3] = 4)).unwrap_err();
    assert!(e.contains("file-000.parquet") && e.contains("row 3") && e.contains("`frame_index`"), "{e}");
    let e = run(&v30_files(&[5, 3], |c| c.timestamp[6] = 0.0)).unwrap_err();
    assert!(e.contains("row 6") && e.contains("`timestamp`") && e.contains("must increase"), "{e}");
    let e = run(&v30_files(&[5, 3], |c| c.state[2][1] = f32::NAN)).unwrap_err();
    assert!(e.contains("row 2") && e.contains("observation.state[1] (b)") && e.contains("not finite"), "{e}");
    // An episode index that jumps: rows of episode 2, which the metadata does not place here.
    let e = run(&v30_files(&[5, 3], |c| c.episode_index[5..].iter_mut().for_each(|x| *x = 2))).unwrap_err();
    assert!(e.contains("row 5") && e.contains("`episode_index`") && e.contains("episode 2"), "{e}");
    let e = run(&v30_files(&[5, 3], |c| c.index[6] = 99)).unwrap_err();
    assert!(e.contains("row 6") && e.contains("`index`"), "{e}");
    let mut files = v30_files(&[5], |_| {});
    files.0.insert("meta/info.json".into(), br#"{"codebase_version": "v3.0", "fps": 10}"#.to_vec());
    let e = run(&files).unwrap_err();
    assert!(e.contains("meta/info.json") && e.contains("`data_path`") && e.contains("missing"), "{e}");
    let mut files = v30_files(&[5], |_| {});
    let data = files.0.get_mut("data/chunk-000/file-000.parquet").unwrap();
    data.truncate(data.len() / 2);
    let e = run(&files).unwrap_err();
    assert!(e.contains("file-000.parquet") && e.contains("parquet"), "{e}");
}
