//! Every importer on generated malformed inputs (property-based, proptest): truncated files,
//! flipped bytes, wrong types and shapes, missing groups, files and columns, NaN, timestamps
//! that do not increase, frame and episode indices that jump. Properties, for every case:
//! - no panic (proptest fails the case and shrinks it to a minimal input);
//! - an error names the file, and a place in it (line, row, group, column or frame) unless the
//!   whole file is unreadable;
//! - a dataset that comes out is valid (finite values, increasing times);
//! - an unmutated input imports, with the values it was built from.
//!
//! `cargo test --features import malformed` runs `DEFAULT_CASES` per reader; the long run is
//!     TRAJRNN_MALFORMED_CASES=100000 cargo test --features import malformed -- --ignored --nocapture

#[cfg(feature = "import")]
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use trajrnn::data::Dataset;
use trajrnn::data::import::{Format, Imported, Mapping, import};

const DEFAULT_CASES: u32 = 1000;

fn cases(default: u32) -> u32 {
    std::env::var("TRAJRNN_MALFORMED_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What the runs of one reader gave.
#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    errors: AtomicUsize,
    whole_file: AtomicUsize,
}

impl Tally {
    fn report(&self, reader: &str, cases: u32) {
        eprintln!(
            "malformed inputs, {reader}: {cases} cases, {} imported, {} errors ({} for an unreadable file), no panic escaped",
            self.ok.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            self.whole_file.load(Ordering::Relaxed)
        );
    }
}

/// Errors that concern a whole file (nothing inside it could be read).
const WHOLE_FILE: [&str; 6] = [
    "not a readable",
    "the file is empty",
    "has a header but no row",
    "No such file",
    "file missing",
    "lists no episode",
];

/// Checks an import's outcome: a valid dataset, or an error naming one of `files` and a place.
fn check(outcome: trajrnn::Result<Imported>, files: &[&str], tally: &Tally) -> Result<(), TestCaseError> {
    match outcome {
        Ok(imported) => {
            tally.ok.fetch_add(1, Ordering::Relaxed);
            check_dataset(&imported.dataset)
        }
        Err(e) => {
            tally.errors.fetch_add(1, Ordering::Relaxed);
            let msg = e.to_string();
            prop_assert!(files.iter().any(|f| msg.contains(f)), "the error names no file: {msg}");
            let whole = WHOLE_FILE.iter().any(|w| msg.contains(w));
            // `file.ext:12` (a line).
            let b = msg.as_bytes();
            let line = (1..b.len().saturating_sub(1))
                .any(|i| b[i] == b':' && b[i - 1].is_ascii_alphanumeric() && b[i + 1].is_ascii_digit());
            // An episode is a place too: its whole rows (a short episode), named by the episode
            // or by its source (`file:/data/demo_3`, `file:episode_index=4`, `file:ep=run1`).
            let markers =
                [", row ", ", group ", ", column `", ", frame ", ": episode ", ":/data/", ":episode_index=", ":ep="];
            let place = line || markers.iter().any(|p| msg.contains(p));
            if whole && !place {
                tally.whole_file.fetch_add(1, Ordering::Relaxed);
            }
            prop_assert!(place || whole, "the error names no place in the file: {msg}");
            Ok(())
        }
    }
}

fn check_dataset(ds: &Dataset) -> Result<(), TestCaseError> {
    for e in &ds.episodes {
        prop_assert!(e.len() >= 3 && e.states.len() == e.len() * ds.dim());
        prop_assert!(e.time.windows(2).all(|w| w[1] > w[0]) && e.time.iter().all(|t| t.is_finite()));
        prop_assert!(e.states.iter().all(|v| v.is_finite()));
    }
    Ok(())
}

fn runner(cases: u32, seed: u64) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        max_shrink_iters: 2000,
        ..Config::default()
    })
}

/// A value of channel `c` at frame `t` of episode `e`.
fn value(e: usize, t: usize, c: usize) -> f64 {
    ((t as f64) * 0.05 + c as f64 + e as f64 * 0.3).sin()
}

/// Byte-level damage of a whole file.
#[derive(Debug, Clone)]
enum Bytes {
    Keep,
    /// Keep the first `permille`/1000 of the file.
    Truncate(u16),
    /// Overwrite bytes at these positions (per mille of the length) with these values.
    Flip(Vec<(u16, u8)>),
}

fn bytes_strategy() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        6 => Just(Bytes::Keep),
        2 => (0u16..1000).prop_map(Bytes::Truncate),
        2 => proptest::collection::vec((0u16..1000, any::<u8>()), 1..6).prop_map(Bytes::Flip),
    ]
}

fn damage(mut bytes: Vec<u8>, how: &Bytes) -> Vec<u8> {
    let at = |p: u16, len: usize| (p as usize * len / 1000).min(len.saturating_sub(1));
    match how {
        Bytes::Keep => {}
        Bytes::Truncate(p) => bytes.truncate(p.min(&999).to_owned() as usize * bytes.len() / 1000),
        Bytes::Flip(flips) => {
            let len = bytes.len();
            for &(p, b) in flips {
                if len > 0 {
                    bytes[at(p, len)] = b;
                }
            }
        }
    }
    bytes
}

// ---------------------------------------------------------------------------------------- CSV

#[derive(Debug, Clone)]
struct CsvCase {
    joints: usize,
    gripper: usize,
    /// Frames of each episode (several episodes use an episode column).
    frames: Vec<usize>,
    edit: CsvEdit,
    bytes: Bytes,
}

#[derive(Debug, Clone)]
enum CsvEdit {
    None,
    /// Replace the field at (row, column) by this text.
    Field(usize, usize, Vec<u8>),
    DropHeaderColumn(usize),
    DuplicateHeaderColumn(usize),
    SwapRows(usize),
    DuplicateRow(usize),
    DropField(usize),
    /// The first episode's label comes back at the end.
    EpisodeReappears,
    BlankHeader,
}

fn csv_strategy() -> impl Strategy<Value = CsvCase> {
    let garbage = prop_oneof![
        Just(b"abc".to_vec()),
        Just(Vec::new()),
        Just(b"NaN".to_vec()),
        Just(b"inf".to_vec()),
        Just(b"-1e999".to_vec()),
        Just(b"1e39".to_vec()),
        Just(b"0x1p3".to_vec()),
        Just(vec![0xff, 0xfe, b'1']),
        Just(b"\"1,5\"".to_vec()),
        Just(b" 2.5 ".to_vec()),
        any::<u8>().prop_map(|b| vec![b]),
    ];
    let edit = prop_oneof![
        3 => Just(CsvEdit::None),
        3 => (0usize..64, 0usize..8, garbage).prop_map(|(r, c, g)| CsvEdit::Field(r, c, g)),
        1 => (0usize..8).prop_map(CsvEdit::DropHeaderColumn),
        1 => (0usize..8).prop_map(CsvEdit::DuplicateHeaderColumn),
        1 => (0usize..64).prop_map(CsvEdit::SwapRows),
        1 => (0usize..64).prop_map(CsvEdit::DuplicateRow),
        1 => (0usize..64).prop_map(CsvEdit::DropField),
        1 => Just(CsvEdit::EpisodeReappears),
        1 => Just(CsvEdit::BlankHeader),
    ];
    (1usize..4, 0usize..3, proptest::collection::vec(1usize..25, 1..4), edit, bytes_strategy())
        .prop_map(|(joints, gripper, frames, edit, bytes)| CsvCase { joints, gripper, frames, edit, bytes })
}

impl CsvCase {
    fn episodes(&self) -> bool {
        self.frames.len() > 1
    }

    fn text(&self) -> Vec<u8> {
        let mut header = vec!["time".to_string()];
        if self.episodes() {
            header.push("ep".into());
        }
        header.extend((0..self.joints).map(|j| format!("j{j}")));
        header.extend((0..self.gripper).map(|g| format!("finger{g}")));
        let dim = self.joints + self.gripper;
        let mut rows: Vec<Vec<Vec<u8>>> = Vec::new();
        for (e, &n) in self.frames.iter().enumerate() {
            for t in 0..n {
                let mut row = vec![format!("{}", t as f64 * 0.01).into_bytes()];
                if self.episodes() {
                    row.push(format!("run{e}").into_bytes());
                }
                row.extend((0..dim).map(|c| format!("{}", value(e, t, c)).into_bytes()));
                rows.push(row);
            }
        }
        let mut header: Vec<Vec<u8>> = header.into_iter().map(String::into_bytes).collect();
        let width = header.len();
        match &self.edit {
            CsvEdit::None => {}
            CsvEdit::Field(r, c, g) => {
                if !rows.is_empty() {
                    let n = rows.len();
                    rows[r % n][c % width] = g.clone();
                }
            }
            CsvEdit::DropHeaderColumn(c) => {
                header.remove(c % width);
            }
            CsvEdit::DuplicateHeaderColumn(c) => header[(c + 1) % width] = header[c % width].clone(),
            CsvEdit::SwapRows(r) => {
                if rows.len() > 1 {
                    let i = r % (rows.len() - 1);
                    rows.swap(i, i + 1);
                }
            }
            CsvEdit::DuplicateRow(r) => {
                let n = rows.len();
                let row = rows[r % n].clone();
                rows.insert(r % n, row);
            }
            CsvEdit::DropField(r) => {
                let n = rows.len();
                rows[r % n].pop();
            }
            CsvEdit::EpisodeReappears => {
                if self.episodes() {
                    let mut row = rows[0].clone();
                    row[0] = b"99".to_vec();
                    rows.push(row);
                }
            }
            CsvEdit::BlankHeader => header = vec![Vec::new()],
        }
        let mut out = header.join(&b","[..]);
        out.push(b'\n');
        for row in rows {
            out.extend(row.join(&b","[..]));
            out.push(b'\n');
        }
        damage(out, &self.bytes)
    }
}

fn run_csv(cases: u32) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("damaged.csv");
    let tally = Tally::default();
    runner(cases, 1)
        .run(&csv_strategy(), |case| {
            std::fs::write(&file, case.text()).unwrap();
            let mapping = Mapping {
                episode_column: case.episodes().then(|| "ep".to_string()),
                rate_hz: Some(100.0),
                ..Mapping::default()
            };
            let outcome = import(Format::Csv, &file, &mapping);
            let valid = matches!(case.edit, CsvEdit::None) && matches!(case.bytes, Bytes::Keep);
            if valid && case.frames.iter().all(|&n| n >= 3) {
                let imported =
                    outcome.as_ref().map_err(|e| TestCaseError::fail(format!("valid input refused: {e}")))?;
                let ds = &imported.dataset;
                for (e, episode) in ds.episodes.iter().enumerate() {
                    for t in 0..episode.len() {
                        for c in 0..ds.dim() {
                            prop_assert_eq!(episode.frame(t)[c], value(e, t, c) as f32);
                        }
                    }
                }
            }
            check(outcome, &["damaged.csv"], &tally)
        })
        .unwrap();
    tally.report("csv", cases);
}

#[test]
fn csv_import_survives_malformed_input() {
    run_csv(cases(DEFAULT_CASES));
}

#[test]
#[ignore = "long: TRAJRNN_MALFORMED_CASES=100000"]
fn csv_import_survives_malformed_input_long() {
    run_csv(cases(100_000));
}

// ------------------------------------------------------------------------------------- LeRobot

#[cfg(feature = "import")]
mod lerobot {
    use std::sync::Arc;

    use arrow_array::builder::{FixedSizeListBuilder, Float32Builder, Int32Builder, ListBuilder};
    use arrow_array::{ArrayRef, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use trajrnn::data::import::lerobot::{MemoryFiles, import_files};

    use super::*;

    #[derive(Debug, Clone)]
    pub struct Case {
        v3: bool,
        width: usize,
        frames: Vec<usize>,
        names: u8,
        edit: Edit,
        /// Which file the byte damage hits: 0 data, 1 info.json, 2 episodes metadata.
        target: u8,
        bytes: Bytes,
    }

    #[derive(Debug, Clone)]
    enum Edit {
        None,
        NanState(usize, usize),
        TimestampBack(usize),
        FrameIndexJump(usize),
        EpisodeIndex(usize, i64),
        IndexJump(usize),
        DropColumn(usize),
        TimestampAsText,
        StateAsIntegers,
        StateRagged(usize),
        EpisodeIndexAsFloat,
        InfoWithout(usize),
        InfoValue(usize, serde_json::Value),
        NamesCount,
        LengthOff(usize, i64),
        DuplicateEpisode,
        MissingDataFile,
    }

    pub fn strategy() -> impl Strategy<Value = Case> {
        let json = prop_oneof![
            Just(serde_json::json!(null)),
            Just(serde_json::json!(-3)),
            Just(serde_json::json!("v9.9")),
            Just(serde_json::json!("data/{nope}.parquet")),
            Just(serde_json::json!("../{episode_index}.parquet")),
            Just(serde_json::json!({"motors": 3})),
            Just(serde_json::json!([1, 2])),
            Just(serde_json::json!(1e300)),
        ];
        let edit = prop_oneof![
            4 => Just(Edit::None),
            1 => (0usize..64, 0usize..8).prop_map(|(r, c)| Edit::NanState(r, c)),
            1 => (1usize..64).prop_map(Edit::TimestampBack),
            1 => (0usize..64).prop_map(Edit::FrameIndexJump),
            1 => (0usize..64, -1i64..5).prop_map(|(r, v)| Edit::EpisodeIndex(r, v)),
            1 => (0usize..64).prop_map(Edit::IndexJump),
            1 => (0usize..5).prop_map(Edit::DropColumn),
            1 => Just(Edit::TimestampAsText),
            1 => Just(Edit::StateAsIntegers),
            1 => (0usize..64).prop_map(Edit::StateRagged),
            1 => Just(Edit::EpisodeIndexAsFloat),
            1 => (0usize..5).prop_map(Edit::InfoWithout),
            1 => (0usize..5, json).prop_map(|(k, v)| Edit::InfoValue(k, v)),
            1 => Just(Edit::NamesCount),
            1 => (0usize..3, -3i64..3).prop_map(|(e, d)| Edit::LengthOff(e, d)),
            1 => Just(Edit::DuplicateEpisode),
            1 => Just(Edit::MissingDataFile),
        ];
        (any::<bool>(), 1usize..6, proptest::collection::vec(1usize..12, 1..4), 0u8..4, edit, 0u8..3, bytes_strategy())
            .prop_map(|(v3, width, frames, names, edit, target, bytes)| Case {
                v3,
                width,
                frames,
                names,
                edit,
                target,
                bytes,
            })
    }

    const INFO_KEYS: [&str; 5] = ["codebase_version", "fps", "data_path", "features", "chunks_size"];

    fn write(batch: RecordBatch) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        out
    }

    /// One data file's columns for episodes `range` (global row index from `first`).
    fn data_file(case: &Case, episodes: std::ops::Range<usize>, first: i64) -> Vec<u8> {
        let w = case.width;
        let mut state = Vec::new();
        let (mut ts, mut fi, mut ei, mut ix) = (vec![], vec![], vec![], vec![]);
        let mut next = first;
        for e in episodes {
            for t in 0..case.frames[e] {
                state.push((0..w).map(|c| value(e, t, c) as f32).collect::<Vec<f32>>());
                ts.push(t as f32 / 10.0);
                fi.push(t as i64);
                ei.push(e as i64);
                ix.push(next);
                next += 1;
            }
        }
        let n = ts.len();
        match &case.edit {
            Edit::NanState(r, c) if n > 0 => state[r % n][c % w] = f32::NAN,
            Edit::TimestampBack(r) if n > 1 => ts[r % n] = -1.0,
            Edit::FrameIndexJump(r) if n > 0 => fi[r % n] += 2,
            Edit::EpisodeIndex(r, v) if n > 0 => ei[r % n..].iter_mut().for_each(|x| *x = *v),
            Edit::IndexJump(r) if n > 0 => ix[r % n] += 7,
            _ => {}
        }
        let state_col: ArrayRef = match &case.edit {
            Edit::StateAsIntegers => {
                let mut b = ListBuilder::new(Int32Builder::new());
                for row in &state {
                    b.values().append_slice(&row.iter().map(|v| *v as i32).collect::<Vec<_>>());
                    b.append(true);
                }
                Arc::new(b.finish())
            }
            Edit::StateRagged(r) => {
                let mut b = ListBuilder::new(Float32Builder::new());
                for (i, row) in state.iter().enumerate() {
                    b.values().append_slice(if i == r % n.max(1) { &row[..row.len() - 1] } else { row });
                    b.append(true);
                }
                Arc::new(b.finish())
            }
            _ => {
                let mut b = FixedSizeListBuilder::new(Float32Builder::new(), w as i32);
                for row in &state {
                    b.values().append_slice(row);
                    b.append(true);
                }
                Arc::new(b.finish())
            }
        };
        let ts_col: ArrayRef = match case.edit {
            Edit::TimestampAsText => Arc::new(StringArray::from(ts.iter().map(|t| t.to_string()).collect::<Vec<_>>())),
            _ => Arc::new(Float32Array::from(ts)),
        };
        let ei_col: ArrayRef = match case.edit {
            Edit::EpisodeIndexAsFloat => Arc::new(Float64Array::from(ei.iter().map(|&x| x as f64).collect::<Vec<_>>())),
            _ => Arc::new(Int64Array::from(ei)),
        };
        let mut cols: Vec<(&str, ArrayRef)> = vec![
            ("observation.state", state_col),
            ("timestamp", ts_col),
            ("frame_index", Arc::new(Int64Array::from(fi))),
            ("episode_index", ei_col),
            ("index", Arc::new(Int64Array::from(ix))),
        ];
        if let Edit::DropColumn(k) = case.edit {
            cols.remove(k % 5);
        }
        write(RecordBatch::try_from_iter(cols).unwrap())
    }

    pub fn files(case: &Case) -> MemoryFiles {
        let w = case.width;
        let names: Vec<String> =
            (0..w).map(|c| if c + 1 == w && w > 1 { "gripper".into() } else { format!("q{c}") }).collect();
        let mut names_json = match case.names {
            0 => serde_json::json!(names),
            1 => serde_json::json!({ "motors": names }),
            2 => serde_json::Value::Object(
                names.iter().enumerate().map(|(i, n)| (n.clone(), serde_json::json!(i))).collect(),
            ),
            _ => serde_json::Value::Null,
        };
        if matches!(case.edit, Edit::NamesCount) {
            names_json = serde_json::json!(["only_one", "and_two", "x", "y", "z", "w", "v"]);
        }
        let template = if case.v3 {
            "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
        } else {
            "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
        };
        let mut info = serde_json::json!({
            "codebase_version": if case.v3 { "v3.0" } else { "v2.1" }, "fps": 10, "data_path": template,
            "chunks_size": 1000,
            "features": {"observation.state": {"dtype": "float32", "shape": [w], "names": names_json}},
        });
        match &case.edit {
            Edit::InfoWithout(k) => {
                info.as_object_mut().unwrap().remove(INFO_KEYS[k % 5]);
            }
            Edit::InfoValue(k, v) => info[INFO_KEYS[k % 5]] = v.clone(),
            _ => {}
        }
        let mut files = MemoryFiles::default();
        let info_bytes = serde_json::to_vec(&info).unwrap();
        let n = case.frames.len();
        let mut lengths: Vec<i64> = case.frames.iter().map(|&f| f as i64).collect();
        if let Edit::LengthOff(e, d) = case.edit {
            lengths[e % n] += d;
        }
        let mut indices: Vec<i64> = (0..n as i64).collect();
        if matches!(case.edit, Edit::DuplicateEpisode) && n > 1 {
            indices[1] = 0;
        }
        let (data_target, meta_target);
        if case.v3 {
            files.0.insert("data/chunk-000/file-000.parquet".into(), data_file(case, 0..n, 0));
            let mut from = 0i64;
            let (mut fr, mut to) = (vec![], vec![]);
            for (e, &len) in lengths.iter().enumerate() {
                fr.push(from);
                to.push(from + len);
                from += case.frames[e] as i64;
            }
            let cols: Vec<(&str, ArrayRef)> = vec![
                ("episode_index", Arc::new(Int64Array::from(indices))),
                ("data/chunk_index", Arc::new(Int64Array::from(vec![0i64; n]))),
                ("data/file_index", Arc::new(Int64Array::from(vec![0i64; n]))),
                ("dataset_from_index", Arc::new(Int64Array::from(fr))),
                ("dataset_to_index", Arc::new(Int64Array::from(to))),
            ];
            files.0.insert(
                "meta/episodes/chunk-000/file-000.parquet".into(),
                write(RecordBatch::try_from_iter(cols).unwrap()),
            );
            data_target = "data/chunk-000/file-000.parquet".to_string();
            meta_target = "meta/episodes/chunk-000/file-000.parquet".to_string();
        } else {
            let mut first = 0;
            let mut jsonl = String::new();
            for e in 0..n {
                files.0.insert(format!("data/chunk-000/episode_{e:06}.parquet"), data_file(case, e..e + 1, first));
                first += case.frames[e] as i64;
                jsonl += &format!("{{\"episode_index\": {}, \"length\": {}}}\n", indices[e], lengths[e]);
            }
            files.0.insert("meta/episodes.jsonl".into(), jsonl.into_bytes());
            data_target = "data/chunk-000/episode_000000.parquet".to_string();
            meta_target = "meta/episodes.jsonl".to_string();
        }
        if matches!(case.edit, Edit::MissingDataFile) {
            files.0.remove(&data_target);
        }
        files.0.insert("meta/info.json".into(), info_bytes);
        let target = [data_target, "meta/info.json".to_string(), meta_target][case.target as usize % 3].clone();
        if let Some(bytes) = files.0.remove(&target) {
            files.0.insert(target, damage(bytes, &case.bytes));
        }
        files
    }

    pub fn run(cases: u32) {
        let tally = Tally::default();
        super::runner(cases, 2)
            .run(&strategy(), |case| {
                let files = files(&case);
                let outcome = import_files(&files, "fuzz", Path::new("fuzz"), &Mapping::default());
                let valid = matches!(case.edit, Edit::None) && matches!(case.bytes, Bytes::Keep);
                if valid && case.frames.iter().all(|&n| n >= 3) {
                    let imported =
                        outcome.as_ref().map_err(|e| TestCaseError::fail(format!("valid input refused: {e}")))?;
                    let ds = &imported.dataset;
                    prop_assert_eq!(ds.episodes.len(), case.frames.len());
                    for (e, episode) in ds.episodes.iter().enumerate() {
                        let row = episode.frame(episode.len() - 1);
                        // Channels are the state entries, joints first: compare as sets of values.
                        let mut got: Vec<f32> = row.to_vec();
                        let mut want: Vec<f32> =
                            (0..case.width).map(|c| value(e, case.frames[e] - 1, c) as f32).collect();
                        got.sort_by(f32::total_cmp);
                        want.sort_by(f32::total_cmp);
                        prop_assert_eq!(got, want);
                    }
                }
                check(outcome, &["meta/info.json", "meta/episodes", "data/chunk-"], &tally)
            })
            .unwrap();
        tally.report("lerobot", cases);
        // Panics inside parquet on damaged pages, each turned into an error naming the file.
        let (_, parquet) = trajrnn::data::import::panics_caught();
        eprintln!("malformed inputs, lerobot: {parquet} panics inside the parquet crate caught (in this test process)");
    }
}

#[cfg(feature = "import")]
#[test]
fn lerobot_import_survives_malformed_input() {
    lerobot::run(cases(DEFAULT_CASES));
}

#[cfg(feature = "import")]
#[test]
#[ignore = "long: TRAJRNN_MALFORMED_CASES=100000"]
fn lerobot_import_survives_malformed_input_long() {
    lerobot::run(cases(100_000));
}

// ------------------------------------------------------------------------ robomimic, robosuite

#[cfg(feature = "import")]
mod hdf5 {
    use hdf5_pure::{AttrValue, FileBuilder};
    use trajrnn::data::import::panics_caught;
    use trajrnn::data::import::robomimic::robomimic_from_bytes;
    use trajrnn::data::import::robosuite::robosuite_from_bytes;

    use super::*;

    /// The h5py-written fixture (superblock v0, symbol-table groups, gzip chunks), so byte damage
    /// also reaches the old-format code paths the shared robosuite files use.
    const H5PY_FIXTURE: &[u8] = include_bytes!("../fixtures/robomimic_h5py.hdf5");

    #[derive(Debug, Clone)]
    pub struct Case {
        fixture: bool,
        frames: Vec<usize>,
        width: usize,
        gripper: usize,
        cos_sin: bool,
        deflate: bool,
        rate: bool,
        edit: Edit,
        bytes: Bytes,
    }

    #[derive(Debug, Clone)]
    enum Edit {
        None,
        Nan(usize, usize, usize),
        Rank3,
        Strings,
        GripperRows,
        NoJoints,
        OnlyCos,
        MaskNames(String),
        MaskNumbers,
        NoData,
        EnvArgs(String),
        WidthDiffers,
        ModelFile(String),
    }

    pub fn strategy() -> impl Strategy<Value = Case> {
        let edit = prop_oneof![
            4 => Just(Edit::None),
            1 => (0usize..4, 0usize..20, 0usize..8).prop_map(|(d, r, c)| Edit::Nan(d, r, c)),
            1 => Just(Edit::Rank3),
            1 => Just(Edit::Strings),
            1 => Just(Edit::GripperRows),
            1 => Just(Edit::NoJoints),
            1 => Just(Edit::OnlyCos),
            1 => "[a-z_0-9]{0,8}".prop_map(Edit::MaskNames),
            1 => Just(Edit::MaskNumbers),
            1 => Just(Edit::NoData),
            1 => "[{}\":a-z0-9_ -]{0,30}".prop_map(Edit::EnvArgs),
            1 => Just(Edit::WidthDiffers),
            1 => "[<>/a-z =\"]{0,40}".prop_map(Edit::ModelFile),
        ];
        (
            prop::bool::weighted(0.2),
            proptest::collection::vec(1usize..15, 1..4),
            1usize..8,
            0usize..3,
            any::<bool>(),
            any::<bool>(),
            prop::bool::weighted(0.9),
            edit,
            bytes_strategy(),
        )
            .prop_map(|(fixture, frames, width, gripper, cos_sin, deflate, rate, edit, bytes)| Case {
                fixture,
                frames,
                width,
                gripper,
                cos_sin,
                deflate,
                rate,
                edit,
                bytes,
            })
    }

    fn joints(case: &Case, d: usize) -> (Vec<f64>, usize) {
        let width = if matches!(case.edit, Edit::WidthDiffers) && d == 1 { case.width + 1 } else { case.width };
        let n = case.frames[d];
        let mut q: Vec<f64> = (0..n).flat_map(|t| (0..width).map(move |c| value(d, t, c))).collect();
        if let Edit::Nan(dd, r, c) = case.edit
            && dd % case.frames.len() == d
        {
            let i = (r % n) * width + c % width;
            q[i] = f64::NAN;
        }
        (q, width)
    }

    pub fn robomimic_bytes(case: &Case) -> Vec<u8> {
        if case.fixture {
            return damage(H5PY_FIXTURE.to_vec(), &case.bytes);
        }
        let mut b = FileBuilder::new();
        if !matches!(case.edit, Edit::NoData) {
            let mut data = b.create_group("data");
            let env = match &case.edit {
                Edit::EnvArgs(text) => text.clone(),
                _ if case.rate => r#"{"env_kwargs": {"control_freq": 20}}"#.into(),
                _ => "{}".into(),
            };
            data.set_attr("env_args", AttrValue::String(env));
            for (d, &n) in case.frames.iter().enumerate() {
                let mut demo = data.create_group(&format!("demo_{d}"));
                if let Edit::ModelFile(text) = &case.edit {
                    demo.set_attr("model_file", AttrValue::String(text.clone()));
                }
                let mut obs = demo.create_group("obs");
                let (q, width) = joints(case, d);
                let shape: Vec<u64> = if matches!(case.edit, Edit::Rank3) {
                    vec![n as u64, width as u64, 1]
                } else {
                    vec![n as u64, width as u64]
                };
                let mut put = |name: &str, values: &[f64]| {
                    let ds = obs.create_dataset(name);
                    ds.with_f64_data(values).with_shape(&shape);
                    if case.deflate {
                        ds.with_chunks(&shape).with_deflate(4);
                    }
                };
                match &case.edit {
                    Edit::NoJoints => {}
                    Edit::Strings => {
                        obs.create_dataset("robot0_joint_pos").with_strings(&["a", "b"]).unwrap();
                    }
                    Edit::OnlyCos => put("robot0_joint_pos_cos", &q.iter().map(|v| v.cos()).collect::<Vec<_>>()),
                    _ if case.cos_sin => {
                        put("robot0_joint_pos_cos", &q.iter().map(|v| v.cos()).collect::<Vec<_>>());
                        put("robot0_joint_pos_sin", &q.iter().map(|v| v.sin()).collect::<Vec<_>>());
                    }
                    _ => put("robot0_joint_pos", &q),
                }
                if case.gripper > 0 {
                    let rows = if matches!(case.edit, Edit::GripperRows) { n + 1 } else { n };
                    let g: Vec<f64> = (0..rows * case.gripper).map(|i| i as f64 * 1e-3).collect();
                    obs.create_dataset("robot0_gripper_qpos")
                        .with_f64_data(&g)
                        .with_shape(&[rows as u64, case.gripper as u64]);
                }
                demo.add_group(obs.finish());
                data.add_group(demo.finish());
            }
            b.add_group(data.finish());
        }
        let mut mask = b.create_group("mask");
        match &case.edit {
            Edit::MaskNames(name) => {
                mask.create_dataset("train").with_strings(&["demo_0", name]).unwrap();
            }
            Edit::MaskNumbers => {
                mask.create_dataset("train").with_f64_data(&[1.0, 2.0]);
            }
            _ => {
                mask.create_dataset("train").with_strings(&["demo_0"]).unwrap();
            }
        }
        b.add_group(mask.finish());
        damage(b.finish().unwrap(), &case.bytes)
    }

    pub fn run_robomimic(cases: u32) {
        let tally = Tally::default();
        super::runner(cases, 3)
            .run(&strategy(), |case| {
                let bytes = robomimic_bytes(&case);
                let outcome = robomimic_from_bytes(Path::new("damaged.hdf5"), bytes, &Mapping::default());
                let valid = matches!(case.edit, Edit::None) && matches!(case.bytes, Bytes::Keep);
                if valid && !case.fixture && case.rate && case.frames.iter().all(|&n| n >= 3) {
                    let imported =
                        outcome.as_ref().map_err(|e| TestCaseError::fail(format!("valid input refused: {e}")))?;
                    let e = &imported.dataset.episodes[0];
                    let expected = value(0, 1, 0) as f32;
                    if case.cos_sin {
                        prop_assert!((e.frame(1)[0] - expected).abs() < 1e-6);
                    } else {
                        prop_assert_eq!(e.frame(1)[0], expected);
                    }
                }
                check(outcome, &["damaged.hdf5"], &tally)
            })
            .unwrap();
        assert_eq!(panics_caught().0, 0, "the HDF5 reader panicked (turned into errors)");
        tally.report("robomimic", cases);
    }

    const SCENE: &str = r#"<mujoco model="s"><compiler angle="radian"/><worldbody>
      <body name="box"><joint name="box_jnt" type="free"/></body>
      <body name="base"><body name="l1"><joint name="j1"/><body name="l2"><joint name="j2" type="slide"/>
        <site name="grip_site"/><body name="f"><joint name="finger"/></body></body></body></body>
    </worldbody></mujoco>"#;

    #[derive(Debug, Clone)]
    pub struct SuiteCase {
        frames: usize,
        edit: SuiteEdit,
        bytes: Bytes,
    }

    #[derive(Debug, Clone)]
    enum SuiteEdit {
        None,
        Width(i64),
        NanAt(usize, usize),
        TimeBack(usize),
        NoModelAttr,
        MissingModel,
        Scene(String),
        Rank1,
        NoStates,
    }

    pub fn suite_strategy() -> impl Strategy<Value = SuiteCase> {
        let edit = prop_oneof![
            4 => Just(SuiteEdit::None),
            1 => (-3i64..4).prop_map(SuiteEdit::Width),
            1 => (0usize..20, 0usize..20).prop_map(|(r, c)| SuiteEdit::NanAt(r, c)),
            1 => (1usize..20).prop_map(SuiteEdit::TimeBack),
            1 => Just(SuiteEdit::NoModelAttr),
            1 => Just(SuiteEdit::MissingModel),
            1 => prop_oneof![
                Just(SCENE.replace("type=\"slide\"", "type=\"screw\"")),
                Just(SCENE.replace("</worldbody>", "")),
                Just(SCENE.replace("<site name=\"grip_site\"/>", "")),
                Just(SCENE.replace("type=\"free\"", "type=\"ball\"")),
                "[<>a-z =\"/]{0,40}",
            ]
            .prop_map(SuiteEdit::Scene),
            1 => Just(SuiteEdit::Rank1),
            1 => Just(SuiteEdit::NoStates),
        ];
        (1usize..20, edit, bytes_strategy()).prop_map(|(frames, edit, bytes)| SuiteCase { frames, edit, bytes })
    }

    fn suite_bytes(case: &SuiteCase) -> Vec<u8> {
        let cols = (1 + 10 + 9) as i64 + if let SuiteEdit::Width(d) = case.edit { d } else { 0 };
        let cols = cols.max(1) as usize;
        let n = case.frames;
        let mut states: Vec<f64> = (0..n)
            .flat_map(|t| (0..cols).map(move |c| if c == 0 { 0.01 * (t + 1) as f64 } else { value(0, t, c) }))
            .collect();
        match case.edit {
            SuiteEdit::NanAt(r, c) => states[(r % n) * cols + c % cols] = f64::NAN,
            SuiteEdit::TimeBack(r) if n > 1 => states[(r % n) * cols] = 0.0,
            _ => {}
        }
        let mut b = FileBuilder::new();
        let mut data = b.create_group("data");
        let mut demo = data.create_group("demo_1");
        if !matches!(case.edit, SuiteEdit::NoModelAttr) {
            demo.set_attr("model_file", AttrValue::String("model_1.xml".into()));
        }
        if !matches!(case.edit, SuiteEdit::NoStates) {
            let shape: Vec<u64> = if matches!(case.edit, SuiteEdit::Rank1) {
                vec![(n * cols) as u64]
            } else {
                vec![n as u64, cols as u64]
            };
            demo.create_dataset("states").with_f64_data(&states).with_shape(&shape);
        }
        data.add_group(demo.finish());
        b.add_group(data.finish());
        damage(b.finish().unwrap(), &case.bytes)
    }

    pub fn run_robosuite(cases: u32) {
        let tally = Tally::default();
        super::runner(cases, 4)
            .run(&suite_strategy(), |case| {
                let scene = match &case.edit {
                    SuiteEdit::MissingModel => None,
                    SuiteEdit::Scene(text) => Some(text.clone()),
                    _ => Some(SCENE.to_string()),
                };
                let models = move |name: &str| (name == "model_1.xml").then(|| scene.clone()).flatten();
                let outcome =
                    robosuite_from_bytes(Path::new("demo.hdf5"), suite_bytes(&case), &models, &Mapping::default());
                let valid = matches!(case.edit, SuiteEdit::None) && matches!(case.bytes, Bytes::Keep);
                if valid && case.frames >= 3 {
                    let imported =
                        outcome.as_ref().map_err(|e| TestCaseError::fail(format!("valid input refused: {e}")))?;
                    // j1 sits at qpos 7 (after the free joint), column 8 of the states.
                    prop_assert_eq!(imported.dataset.episodes[0].frame(2)[0], value(0, 2, 8) as f32);
                }
                check(outcome, &["demo.hdf5", "models/model_1.xml"], &tally)
            })
            .unwrap();
        assert_eq!(panics_caught().0, 0, "the HDF5 reader panicked (turned into errors)");
        tally.report("robosuite", cases);
    }
}

#[cfg(feature = "import")]
#[test]
fn robomimic_import_survives_malformed_input() {
    hdf5::run_robomimic(cases(DEFAULT_CASES));
}

#[cfg(feature = "import")]
#[test]
#[ignore = "long: TRAJRNN_MALFORMED_CASES=100000"]
fn robomimic_import_survives_malformed_input_long() {
    hdf5::run_robomimic(cases(100_000));
}

#[cfg(feature = "import")]
#[test]
fn robosuite_import_survives_malformed_input() {
    hdf5::run_robosuite(cases(DEFAULT_CASES));
}

#[cfg(feature = "import")]
#[test]
#[ignore = "long: TRAJRNN_MALFORMED_CASES=100000"]
fn robosuite_import_survives_malformed_input_long() {
    hdf5::run_robosuite(cases(100_000));
}
