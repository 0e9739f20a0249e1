//! Property-based harness (proptest, stable Rust) over the readers: damaged episode CSVs,
//! `dataset.json` files, robot descriptions (MJCF) and checkpoints (truncated, bit-flipped,
//! random bytes, edited fields and headers, deep nesting). Properties: no panic (proptest catches one and shrinks the input), no abort (the
//! test binary's allocator refuses huge allocations, see main.rs), every error names the file
//! and is short, and whatever loads holds only finite numbers and can be used.
//!
//! `cargo test` runs a few thousand cases per reader. The long run (100 000 per reader, a fresh
//! random seed each time, printed so that a failure can be replayed with `TRAJRNN_FUZZ_SEED`):
//!
//!     TRAJRNN_FUZZ_CASES=100000 cargo test --test it fuzz -- --ignored --nocapture

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::Value;
use trajrnn::checkpoint;
use trajrnn::data::Dataset;
use trajrnn::data::csv_episode::ReadOptions;

use crate::common::*;
use crate::robustness::{SAWYER, join_checkpoint, split_checkpoint, synthetic, write_checkpoint};

/// Cases per reader inside `cargo test` (the three readers together take a few seconds).
const SUITE_CASES: u32 = 2000;
/// Longest message an error may give: a list of cut names, or a path of up to 1024 bytes
/// (dataset.json's robot_description.path).
const MAX_MESSAGE: usize = 2000;

fn runner(cases: u32, seed: u64) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None, // no regression files in the source tree; the seed replays
        rng_seed: RngSeed::Fixed(seed),
        max_shrink_iters: 4096,
        ..Config::default()
    })
}

/// Runs `property` over `strategy`: a few thousand fixed cases in the suite, or
/// `TRAJRNN_FUZZ_CASES` cases from `TRAJRNN_FUZZ_SEED` (random when unset) in the long run.
fn check<S: Strategy>(reader: &str, long: bool, strategy: S, property: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let (cases, seed) = if long {
        let random = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
        (env("TRAJRNN_FUZZ_CASES").unwrap_or(100_000) as u32, env("TRAJRNN_FUZZ_SEED").unwrap_or(random))
    } else {
        (SUITE_CASES, env("TRAJRNN_FUZZ_SEED").unwrap_or(6))
    };
    let started = std::time::Instant::now();
    if let Err(e) = runner(cases, seed).run(&strategy, property) {
        panic!("{reader}: {e} (seed {seed}; replay with TRAJRNN_FUZZ_SEED={seed})");
    }
    println!("fuzz {reader}: {cases} cases, seed {seed}, {:.1} s", started.elapsed().as_secs_f64());
}

/// An error names `file` (or a file under it) and is short.
fn check_error(e: &trajrnn::Error, file: &Path) -> Result<(), TestCaseError> {
    let message = e.to_string();
    prop_assert!(message.contains(&file.display().to_string()), "does not name {}: {message}", file.display());
    prop_assert!(
        message.len() < MAX_MESSAGE,
        "{} bytes: {}",
        message.len(),
        &message[..message.floor_char_boundary(300)]
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Damage

/// Damage to raw bytes.
#[derive(Debug, Clone)]
enum Bytes {
    Truncate(Index),
    FlipBit(Index, u8),
    Insert(Index, Vec<u8>),
    Overwrite(Index, Vec<u8>),
    Delete(Index, usize),
}

fn bytes_damage() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        any::<Index>().prop_map(Bytes::Truncate),
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Bytes::FlipBit(i, b)),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, v)| Bytes::Insert(i, v)),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, v)| Bytes::Overwrite(i, v)),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Bytes::Delete(i, n)),
    ]
}

fn damage_bytes(bytes: &mut Vec<u8>, damage: &Bytes) {
    let at = |i: &Index, bytes: &Vec<u8>| i.index(bytes.len() + 1);
    match damage {
        Bytes::Truncate(i) => bytes.truncate(at(i, bytes)),
        Bytes::FlipBit(i, bit) if !bytes.is_empty() => {
            let i = i.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        Bytes::FlipBit(..) => {}
        Bytes::Insert(i, v) => {
            let i = at(i, bytes);
            bytes.splice(i..i, v.iter().copied());
        }
        Bytes::Overwrite(i, v) => {
            let i = at(i, bytes);
            let end = (i + v.len()).min(bytes.len());
            bytes.splice(i..end, v.iter().copied());
        }
        Bytes::Delete(i, n) => {
            let i = at(i, bytes);
            bytes.drain(i..(i + n).min(bytes.len()));
        }
    }
}

/// Values a hostile or careless file holds: non-numbers, non-finite and out-of-range numbers,
/// quoting, reserved and known names, a long field.
const SPECIALS: &[&str] = &[
    "NaN",
    "nan",
    "-NaN",
    "inf",
    "-inf",
    "+inf",
    "Infinity",
    "1e39",
    "-1e39",
    "3.4028236e38",
    "3.4028235e38",
    "1e308",
    "1e309",
    "-0",
    "0",
    "1e-46",
    "0x10",
    "1_000",
    "1e",
    ".",
    "-",
    "+",
    "",
    " ",
    "\"1\"",
    "\"",
    "\"\"",
    "a\"b",
    "1,2",
    "\u{feff}1",
    "1\r",
    "١",
    "time",
    "phase",
    "j0",
    "j1",
    "g",
    "reach",
    "grasp",
    "🤖",
    "\0",
    "18446744073709551616",
    "-9223372036854775809",
    "4294967296",
];

fn long_field() -> String {
    "9".repeat(5000)
}

// ---------------------------------------------------------------------------------------------
// Episode CSVs

#[derive(Debug, Clone)]
enum Csv {
    Field(Index, Index, Vec<u8>),
    Special(Index, Index, &'static str),
    Long(Index, Index),
    DropField(Index, Index),
    AddField(Index, Vec<u8>),
    DropLine(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    Raw(Bytes),
}

fn csv_damage() -> impl Strategy<Value = Csv> {
    prop_oneof![
        (
            any::<Index>(),
            any::<Index>(),
            prop::collection::vec(prop_oneof![3 => 0x20u8..0x7f, 1 => any::<u8>()], 0..12)
        )
            .prop_map(|(l, f, v)| Csv::Field(l, f, v)),
        (any::<Index>(), any::<Index>(), prop::sample::select(SPECIALS)).prop_map(|(l, f, s)| Csv::Special(l, f, s)),
        (any::<Index>(), any::<Index>()).prop_map(|(l, f)| Csv::Long(l, f)),
        (any::<Index>(), any::<Index>()).prop_map(|(l, f)| Csv::DropField(l, f)),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 0..8)).prop_map(|(l, v)| Csv::AddField(l, v)),
        any::<Index>().prop_map(Csv::DropLine),
        any::<Index>().prop_map(Csv::DuplicateLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Csv::SwapLines(a, b)),
        bytes_damage().prop_map(Csv::Raw),
    ]
}

/// Applies `damage` to CSV text held as lines of fields.
fn damage_csv(text: Vec<u8>, damage: &Csv) -> Vec<u8> {
    if let Csv::Raw(b) = damage {
        let mut text = text;
        damage_bytes(&mut text, b);
        return text;
    }
    let mut lines: Vec<Vec<Vec<u8>>> =
        text.split(|&b| b == b'\n').map(|l| l.split(|&b| b == b',').map(<[u8]>::to_vec).collect()).collect();
    let n = lines.len();
    let field = |l: &Index, f: &Index, lines: &mut Vec<Vec<Vec<u8>>>| -> Option<(usize, usize)> {
        let l = l.index(n);
        (!lines[l].is_empty()).then(|| (l, f.index(lines[l].len())))
    };
    match damage {
        Csv::Field(l, f, v) => {
            if let Some((l, f)) = field(l, f, &mut lines) {
                lines[l][f] = v.clone();
            }
        }
        Csv::Special(l, f, s) => {
            if let Some((l, f)) = field(l, f, &mut lines) {
                lines[l][f] = s.as_bytes().to_vec();
            }
        }
        Csv::Long(l, f) => {
            if let Some((l, f)) = field(l, f, &mut lines) {
                lines[l][f] = long_field().into_bytes();
            }
        }
        Csv::DropField(l, f) => {
            if let Some((l, f)) = field(l, f, &mut lines) {
                lines[l].remove(f);
            }
        }
        Csv::AddField(l, v) => lines[l.index(n)].push(v.clone()),
        Csv::DropLine(l) => drop(lines.remove(l.index(n))),
        Csv::DuplicateLine(l) => {
            let l = l.index(n);
            lines.insert(l, lines[l].clone());
        }
        Csv::SwapLines(a, b) => lines.swap(a.index(n), b.index(n)),
        Csv::Raw(_) => unreachable!(),
    }
    lines.iter().map(|l| l.join(&b","[..])).collect::<Vec<_>>().join(&b"\n"[..])
}

/// `common::META` with two phase labels.
fn meta_with_phases() -> String {
    META.replace("\"gripper\"", "\"phases\": [\"reach\", \"grasp\"],\n  \"gripper\"")
}

/// A valid episode of `frames` rows, columns rotated by `rotate`, with a phase column or not.
fn base_csv(frames: usize, rotate: usize, phases: bool) -> Vec<u8> {
    let text = episode_csv(frames, 0);
    let mut rows: Vec<Vec<String>> = text.lines().map(|l| l.split(',').map(String::from).collect()).collect();
    for (i, row) in rows.iter_mut().enumerate() {
        if phases {
            row.push(
                if i == 0 {
                    "phase"
                } else if i % 3 == 0 {
                    "grasp"
                } else {
                    "reach"
                }
                .into(),
            );
        }
        let k = rotate % row.len();
        row.rotate_left(k);
    }
    rows.iter().map(|r| r.join(",") + "\n").collect::<String>().into_bytes()
}

fn csv_case() -> impl Strategy<Value = ((usize, usize, bool, bool), Vec<Csv>)> {
    ((1usize..30, 0usize..5, any::<bool>(), any::<bool>()), prop::collection::vec(csv_damage(), 1..4))
}

fn csv_property(long: bool) {
    let dir = tempdir();
    let root = write_dataset(dir.path(), &[5]);
    let (plain, phased) = (META.to_string(), meta_with_phases());
    let file = root.join("episodes/episode_000.csv");
    check("episode CSV", long, csv_case(), |((frames, rotate, phases, lenient), damage)| {
        let mut text = base_csv(frames, rotate, phases);
        for d in &damage {
            text = damage_csv(text, d);
        }
        std::fs::write(root.join("dataset.json"), if phases { &phased } else { &plain }).unwrap();
        std::fs::write(&file, &text).unwrap();
        match Dataset::load_with(&root, ReadOptions { drop_duplicate_frames: lenient }) {
            Ok(ds) => check_loaded(&ds),
            Err(e) => check_error(&e, &file),
        }
    });
}

/// What a dataset that loads guarantees: finite, strictly increasing times; finite values;
/// phase labels that exist.
fn check_loaded(ds: &Dataset) -> Result<(), TestCaseError> {
    for e in &ds.episodes {
        prop_assert!(e.len() >= 3 && e.states.len() == e.len() * ds.dim());
        prop_assert!(e.time.iter().all(|t| t.is_finite()) && e.time.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(e.states.iter().all(|v| v.is_finite()));
        if let Some(p) = &e.phase {
            prop_assert!(p.len() == e.len() && p.iter().all(|&p| (p as usize) < ds.meta.phases.len()));
        }
    }
    Ok(())
}

#[test]
fn fuzz_episode_csv() {
    csv_property(false);
}

#[test]
#[ignore = "long run: TRAJRNN_FUZZ_CASES=100000 cargo test --test it fuzz -- --ignored"]
fn fuzz_episode_csv_long() {
    csv_property(true);
}

// ---------------------------------------------------------------------------------------------
// JSON (dataset.json and checkpoint headers)

#[derive(Debug, Clone)]
enum Json {
    Remove(Index),
    Rename(Index, String),
    Replace(Index, Value),
    /// A numeric leaf set to a number chosen to break sizes and ranges.
    Number(Index, Value),
    Insert(Index, String, Value),
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![prop::sample::select(SPECIALS).prop_map(String::from), "[a-z_]{0,12}", Just("x".repeat(5000))]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            0.into(),
            1.into(),
            2.into(),
            3.into(),
            9.into(),
            (-1).into(),
            (1u64 << 32).into(),
            (1u64 << 53).into(),
            u64::MAX.into(),
            i64::MIN.into(),
            serde_json::json!(0.5),
            serde_json::json!(-0.0),
            serde_json::json!(1e39),
            serde_json::json!(1e300),
            serde_json::json!(1e-300),
            serde_json::json!(100_000),
            serde_json::json!(16384),
        ]),
        any::<u64>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        key().prop_map(Value::String),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        prop::collection::vec(key().prop_map(Value::String), 0..4).prop_map(Value::Array),
    ]
}

fn json_damage() -> impl Strategy<Value = Json> {
    prop_oneof![
        1 => any::<Index>().prop_map(Json::Remove),
        1 => (any::<Index>(), key()).prop_map(|(i, k)| Json::Rename(i, k)),
        1 => (any::<Index>(), leaf()).prop_map(|(i, v)| Json::Replace(i, v)),
        3 => (any::<Index>(), number()).prop_map(|(i, v)| Json::Number(i, v)),
        1 => (any::<Index>(), key(), leaf()).prop_map(|(i, k, v)| Json::Insert(i, k, v)),
    ]
}

/// JSON pointers of every node under `value` (the root excluded), depth first.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(m) => m.iter().map(|(k, v)| (k.replace('~', "~0").replace('/', "~1"), v)).collect(),
        Value::Array(a) => a.iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
        _ => vec![],
    };
    for (k, v) in children {
        let p = format!("{at}/{k}");
        out.push(p.clone());
        pointers(v, p, out);
    }
}

fn damage_json(root: &mut Value, damage: &Json) {
    let mut all = Vec::new();
    pointers(root, String::new(), &mut all);
    let pick = |i: &Index, list: &[String]| (!list.is_empty()).then(|| list[i.index(list.len())].clone());
    let parent_and_key = |p: &str| {
        let (parent, key) = p.rsplit_once('/').unwrap();
        (parent.to_string(), key.replace("~1", "/").replace("~0", "~"))
    };
    match damage {
        Json::Remove(i) | Json::Rename(i, _) => {
            let Some(p) = pick(i, &all) else { return };
            let (parent, key) = parent_and_key(&p);
            let removed = match root.pointer_mut(&parent) {
                Some(Value::Object(m)) => m.remove(&key),
                Some(Value::Array(a)) => Some(a.remove(key.parse::<usize>().unwrap())),
                _ => None,
            };
            if let (Json::Rename(_, new), Some(v), Some(Value::Object(m))) =
                (damage, removed, root.pointer_mut(&parent))
            {
                m.insert(new.clone(), v);
            }
        }
        Json::Replace(i, v) => {
            if let Some(p) = pick(i, &all) {
                *root.pointer_mut(&p).unwrap() = v.clone();
            }
        }
        Json::Number(i, v) => {
            let numbers: Vec<String> = all.into_iter().filter(|p| root.pointer(p).unwrap().is_number()).collect();
            if let Some(p) = pick(i, &numbers) {
                *root.pointer_mut(&p).unwrap() = v.clone();
            }
        }
        Json::Insert(i, k, v) => {
            let objects: Vec<String> = std::iter::once(String::new())
                .chain(all.into_iter().filter(|p| root.pointer(p).unwrap().is_object()))
                .collect();
            if let Some(Value::Object(m)) = pick(i, &objects).and_then(|p| root.pointer_mut(&p)) {
                m.insert(k.clone(), v.clone());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// dataset.json

/// A dataset.json that uses every field, and the episodes and robot description it names.
fn rich_dataset(dir: &Path) -> (PathBuf, Value) {
    let root = write_dataset(dir, &[40, 40]);
    for e in 0..2 {
        std::fs::write(root.join(format!("episodes/episode_{e:03}.csv")), base_csv(40, e, true)).unwrap();
    }
    std::fs::write(root.join("robot.xml"), crate::robustness::ROBOT_XML).unwrap();
    let mut meta: Value = serde_json::from_str(&meta_with_phases()).unwrap();
    let extra = serde_json::json!({
        "auxiliary": [],
        "units": {"joints": "deg", "gripper": "m", "time": "ms"},
        "robot_description": {"format": "mjcf", "path": "robot.xml", "end_effector": "ee"},
        "provenance": {"source": "test", "episodes": [{"file": "episode_000.csv"}]},
        "license": "MIT"
    });
    meta.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    (root, meta)
}

#[derive(Debug, Clone)]
enum MetaDamage {
    Json(Json),
    Raw(Bytes),
}

fn dataset_json_property(long: bool) {
    let dir = tempdir();
    let (root, base) = rich_dataset(dir.path());
    let file = root.join("dataset.json");
    {
        std::fs::write(&file, serde_json::to_vec_pretty(&base).unwrap()).unwrap();
        let ds = Dataset::load(&root).expect("the undamaged dataset loads");
        trajrnn::kinematics::Kinematics::for_dataset(&ds).unwrap().expect("kinematics");
    }
    let damage = prop::collection::vec(
        prop_oneof![3 => json_damage().prop_map(MetaDamage::Json), 1 => bytes_damage().prop_map(MetaDamage::Raw)],
        1..4,
    );
    check("dataset.json", long, damage, |damage| {
        let mut value = base.clone();
        let mut text = None::<Vec<u8>>;
        for d in &damage {
            match d {
                MetaDamage::Json(j) if text.is_none() => damage_json(&mut value, j),
                MetaDamage::Json(_) => {} // the text is no longer JSON we can edit
                MetaDamage::Raw(b) => {
                    damage_bytes(text.get_or_insert_with(|| serde_json::to_vec_pretty(&value).unwrap()), b)
                }
            }
        }
        let text = text.unwrap_or_else(|| serde_json::to_vec_pretty(&value).unwrap());
        std::fs::write(&file, &text).unwrap();
        // Whatever file the error is in, it is one of this dataset's.
        match Dataset::load(&root) {
            Ok(ds) => {
                check_loaded(&ds)?;
                match trajrnn::kinematics::Kinematics::for_dataset(&ds) {
                    Ok(Some(k)) => {
                        let q = ds.episodes[0].frame(0);
                        prop_assert!(k.end_effector_position(q).is_none_or(|p| p.coords.iter().all(|v| v.is_finite())));
                        Ok(())
                    }
                    Ok(None) => Ok(()),
                    Err(e) => check_error(&e, &root),
                }
            }
            Err(e) => check_error(&e, &root),
        }
    });
}

#[test]
fn fuzz_dataset_json() {
    dataset_json_property(false);
}

#[test]
#[ignore = "long run: TRAJRNN_FUZZ_CASES=100000 cargo test --test it fuzz -- --ignored"]
fn fuzz_dataset_json_long() {
    dataset_json_property(true);
}

// ---------------------------------------------------------------------------------------------
// robot.xml (the MJCF description a dataset names)

#[derive(Debug, Clone)]
enum Xml {
    /// An attribute's value replaced (numbers that are not, too few or too many).
    Attribute(Index, &'static str),
    /// Elements wrapped around the body at a position, `n` levels deep.
    Nest(Index, usize),
    Raw(Bytes),
}

const XML_VALUES: &[&str] = &[
    "",
    "0 0",
    "0 0 0",
    "0 0 0 0",
    "nan 0 1",
    "0 inf 0",
    "1e309 0 0",
    "1e-320 0 0",
    "0 0 0 0 0",
    "a b c",
    "1,2,3",
    "hinge",
    "slide",
    "ball",
    "ee",
    "j0",
];

fn xml_damage() -> impl Strategy<Value = Xml> {
    prop_oneof![
        (any::<Index>(), prop::sample::select(XML_VALUES)).prop_map(|(i, v)| Xml::Attribute(i, v)),
        (any::<Index>(), prop_oneof![1usize..8, Just(300), Just(100_000)]).prop_map(|(i, n)| Xml::Nest(i, n)),
        bytes_damage().prop_map(Xml::Raw),
    ]
}

fn damage_xml(text: String, damage: &Xml) -> String {
    match damage {
        Xml::Attribute(i, v) => {
            // The i-th quoted attribute value.
            let quotes: Vec<usize> = text.match_indices('"').map(|(at, _)| at).collect();
            let pairs = quotes.len() / 2;
            if pairs == 0 {
                return text;
            }
            let k = i.index(pairs);
            format!("{}{v}{}", &text[..=quotes[2 * k]], &text[quotes[2 * k + 1]..])
        }
        Xml::Nest(i, n) => {
            let at = text.match_indices("<body").map(|(at, _)| at).collect::<Vec<_>>();
            let Some(&start) = (!at.is_empty()).then(|| &at[i.index(at.len())]) else { return text };
            let end = text[start..].find("</body>").map_or(text.len(), |e| start + e + "</body>".len());
            format!(
                "{}{}{}{}{}",
                &text[..start],
                "<body>".repeat(*n),
                &text[start..end],
                "</body>".repeat(*n),
                &text[end..]
            )
        }
        Xml::Raw(b) => {
            let mut bytes = text.into_bytes();
            damage_bytes(&mut bytes, b);
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }
}

fn robot_xml_property(long: bool) {
    let path = Path::new("ds/robot.xml");
    let channels = ["j0".to_string(), "j1".to_string(), "g".to_string()];
    let case = prop::collection::vec(xml_damage(), 1..4);
    check("robot.xml", long, case, |damage| {
        let text = damage.iter().fold(crate::robustness::ROBOT_XML.to_string(), damage_xml);
        match trajrnn::kinematics::RobotModel::from_mjcf_str(&text, path) {
            Ok(robot) => {
                let map = robot.joint_map(&channels);
                for q in [[0.0, 0.0, 0.0], [1.5, -2.0, 0.01]] {
                    let poses = robot.forward(&q, &map);
                    prop_assert!(poses.iter().all(|p| p.translation.vector.iter().all(|v| v.is_finite())));
                    for s in 0..robot.sites.len() {
                        prop_assert!(robot.site_position(&poses, s).coords.iter().all(|v| v.is_finite()));
                    }
                }
                Ok(())
            }
            Err(e) => check_error(&e, path),
        }
    });
}

#[test]
fn fuzz_robot_xml() {
    robot_xml_property(false);
}

#[test]
#[ignore = "long run: TRAJRNN_FUZZ_CASES=100000 cargo test --test it fuzz -- --ignored"]
fn fuzz_robot_xml_long() {
    robot_xml_property(true);
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

/// Real checkpoints written by `checkpoint::save` (each cell untrained, with its linear
/// baselines) and a trained run to resume (its configuration and `best.ckpt`).
struct Bases {
    files: Vec<Vec<u8>>,
    run: Dataset,
    config: trajrnn::RunConfig,
    best: Vec<u8>,
}

/// Index in [`Bases::files`] of the trained run's `last.ckpt`.
const LAST: usize = 3;

fn bases() -> &'static Bases {
    static BASES: OnceLock<Bases> = OnceLock::new();
    BASES.get_or_init(|| {
        let dir = tempdir();
        let ds = synthetic(&SAWYER, 3, 60);
        let (linear_ar, channel_ar) = trajrnn::baselines::LinearAr::fit_both(
            &ds,
            &[trajrnn::data::Segment { episode: 0, frames: 0..60 }],
            2,
            1e-3,
        )
        .unwrap();
        let path = dir.path().join("base.ckpt");
        write_checkpoint(&ds, &path, None);
        let (header, _) = split_checkpoint(&std::fs::read(&path).unwrap());
        let mut files = Vec::new();
        for cell in trajrnn::model::CellKind::ALL {
            let mut meta: checkpoint::CheckpointMeta = serde_json::from_value(header.clone()).unwrap();
            meta.model.cell = cell;
            meta.baselines = trajrnn::baselines::Baselines {
                linear_ar: linear_ar.clone(),
                channel_ar: channel_ar.clone(),
                arx: None,
                lagged_command: None,
            };
            checkpoint::save(&path, &meta.model.init(&device(), 1), &meta, None).unwrap();
            files.push(std::fs::read(&path).unwrap());
        }
        // A trained run: its last.ckpt holds the optimiser and the training state.
        let s = crate::training::setup();
        let run_dir = dir.path().join("run");
        let config = crate::training::run_config(&s, &run_dir, crate::training::config(1, 0));
        trajrnn::run::train_dataset(
            &config,
            s.dataset.clone(),
            trajrnn::run::TrainOptions::default(),
            &mut trajrnn::run::quiet,
            None,
        )
        .unwrap();
        files.push(std::fs::read(run_dir.join("last.ckpt")).unwrap());
        let best = std::fs::read(run_dir.join("best.ckpt")).unwrap();
        Bases { files, run: s.dataset, config, best }
    })
}

/// Resumes the trained run from the (damaged) `last.ckpt` at `path`, as `trajrnn train
/// --resume` does: the optimiser section is decoded too.
fn resume(path: &Path) -> Result<(), TestCaseError> {
    let b = bases();
    let dir = path.parent().unwrap().join("resume");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("best.ckpt"), &b.best).unwrap();
    let last = dir.join("last.ckpt");
    std::fs::copy(path, &last).unwrap();
    let config = trajrnn::RunConfig { run_dir: dir, ..b.config.clone() };
    let options = trajrnn::run::TrainOptions { resume: true, ..Default::default() };
    match trajrnn::run::train_dataset(&config, b.run.clone(), options, &mut trajrnn::run::quiet, None) {
        Ok(_) => Ok(()),
        Err(e) => check_error(&e, &last),
    }
}

#[derive(Debug, Clone)]
enum Ckpt {
    /// Anywhere in the file.
    Raw(Bytes),
    /// In the sections after the header (the weights' burnpack, the optimiser).
    Body(Bytes),
    /// In one section (the weights' or the optimiser's burnpack), with the header's size and
    /// checksum of it made to agree, so that the damage reaches burn's decoders.
    Section(Index, Bytes),
    /// The header length field.
    Length(u64),
    /// The JSON header, written back with a matching length field.
    Header(Json),
}

fn ckpt_damage() -> impl Strategy<Value = Ckpt> {
    let length = prop_oneof![
        prop::sample::select(vec![0, 1, 15, 16, 17, u64::MAX, u64::MAX - 15, 1 << 63, 16 << 20]),
        any::<u64>(),
        0u64..20_000,
    ];
    prop_oneof![
        1 => bytes_damage().prop_map(Ckpt::Raw),
        1 => bytes_damage().prop_map(Ckpt::Body),
        3 => (any::<Index>(), bytes_damage()).prop_map(|(i, b)| Ckpt::Section(i, b)),
        1 => length.prop_map(Ckpt::Length),
        3 => json_damage().prop_map(Ckpt::Header),
    ]
}

fn damage_checkpoint(bytes: Vec<u8>, damage: &Ckpt) -> Vec<u8> {
    // Version 4: magic, length, header, the header's checksum (8 bytes), sections.
    let intact = bytes.len() >= 16
        && u64::from_le_bytes(bytes[8..16].try_into().unwrap())
            .checked_add(24)
            .is_some_and(|end| end <= bytes.len() as u64);
    let mut bytes = bytes;
    match damage {
        Ckpt::Raw(b) => damage_bytes(&mut bytes, b),
        Ckpt::Length(n) if bytes.len() >= 16 => bytes[8..16].copy_from_slice(&n.to_le_bytes()),
        Ckpt::Length(_) => {}
        Ckpt::Body(b) if intact => {
            let start = 24 + u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
            let mut body = bytes.split_off(start);
            damage_bytes(&mut body, b);
            bytes.extend(body);
        }
        Ckpt::Section(i, b) if intact => {
            let len = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
            let Ok(mut header) = serde_json::from_slice::<Value>(&bytes[16..16 + len]) else { return bytes };
            let sizes: Option<Vec<usize>> = header["sections"]
                .as_array()
                .and_then(|sections| sections.iter().map(|s| s["bytes"].as_u64().map(|n| n as usize)).collect());
            let body = &bytes[24 + len..];
            let total = |s: &Vec<usize>| s.iter().try_fold(0usize, |a, &n| a.checked_add(n));
            let Some(sizes) = sizes.filter(|s| !s.is_empty() && total(s) == Some(body.len())) else {
                return bytes;
            };
            let k = i.index(sizes.len());
            let start: usize = sizes[..k].iter().sum();
            let mut section = body[start..start + sizes[k]].to_vec();
            damage_bytes(&mut section, b);
            header["sections"][k]["bytes"] = section.len().into();
            header["sections"][k]["fnv1a64"] = checkpoint::checksum(&section).into();
            let rest = &body[start + sizes[k]..];
            return join_checkpoint(&header, &[&body[..start], &section, rest].concat());
        }
        Ckpt::Header(j) if intact => {
            let len = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
            if let Ok(mut header) = serde_json::from_slice::<Value>(&bytes[16..16 + len]) {
                damage_json(&mut header, j);
                return join_checkpoint(&header, &bytes[24 + len..]);
            }
        }
        Ckpt::Body(_) | Ckpt::Section(..) | Ckpt::Header(_) => {}
    }
    bytes
}

fn checkpoint_property(long: bool) {
    let bases = &bases().files;
    let dir = tempdir();
    let path = dir.path().join("damaged.ckpt");
    let case = (0..bases.len(), prop::collection::vec(ckpt_damage(), 1..4));
    check("checkpoint", long, case, |(base, damage)| {
        let mut bytes = bases[base].clone();
        for d in &damage {
            bytes = damage_checkpoint(bytes, d);
        }
        std::fs::write(&path, &bytes).unwrap();
        let meta = checkpoint::load_meta(&path);
        match checkpoint::load(&path, &device()) {
            Ok(ck) => {
                prop_assert!(meta.is_ok());
                use_checkpoint(&ck);
                if base == LAST { resume(&path) } else { Ok(()) }
            }
            Err(e) => check_error(&e, &path),
        }
    });
}

/// Uses a checkpoint that loaded the way `eval`, `rollout` and a control loop do: a loaded
/// checkpoint must not panic on first use.
fn use_checkpoint(ck: &checkpoint::Checkpoint) {
    let dim = ck.meta.model.output_dim;
    let mut predictor = trajrnn::Predictor::from_model(&ck.model, ck.meta.encoding.clone(), ck.meta.data.clone());
    // Damaged weights that are finite can still predict infinity; that is an error, not a value.
    let predicted = (0..predictor.frames_before_first_prediction() + 2)
        .try_for_each(|t| predictor.observe(&vec![0.01 * t as f32; dim]).map(drop))
        .and_then(|_| predictor.rollout(3));
    if let Err(e) = predicted {
        assert!(e.to_string().contains("prediction of channel"), "{e}");
    }
    let frames: Vec<f32> = (0..(ck.meta.encoding.history() + 4) * dim).map(|i| (i as f32 * 0.1).sin()).collect();
    let track = trajrnn::rollout::prediction_track(
        &ck.model,
        &ck.meta.encoding,
        &frames,
        &[],
        ck.meta.encoding.history() + 1,
        2,
        &device(),
    )
    .unwrap();
    assert_eq!(track.states.len() % dim, 0);
    for baseline in ck.meta.baselines.all() {
        let context: Vec<f32> = (0..(baseline.history() + 2) * dim).map(|i| i as f32 * 1e-3).collect();
        baseline.rollout(&trajrnn::baselines::Context::states(&context, dim), 3, &mut vec![0.0; 3 * dim]);
    }
}

#[test]
fn fuzz_checkpoint() {
    checkpoint_property(false);
}

#[test]
#[ignore = "long run: TRAJRNN_FUZZ_CASES=100000 cargo test --test it fuzz -- --ignored"]
fn fuzz_checkpoint_long() {
    checkpoint_property(true);
}
