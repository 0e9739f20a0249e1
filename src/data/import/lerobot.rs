//! LeRobot datasets from a local folder.
//!
//! - v2.0 / v2.1: `meta/info.json`, `meta/episodes.jsonl` (one line per episode with its
//!   `episode_index` and `length`) and one parquet file per episode at `data_path`
//!   (`data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet`).
//! - v3.0: episodes described by `meta/episodes/chunk-*/file-*.parquet` (`episode_index`,
//!   `data/chunk_index`, `data/file_index`, `dataset_from_index`, `dataset_to_index`), several
//!   episodes per data file, rows told apart by `episode_index` and the global `index`.
//!
//! Read: `fps`, the state feature's entry names (a list, `{"motors": [...]}`, a name→index map),
//! and the columns `observation.state` (fixed-size or variable list of float32/float64),
//! `timestamp`, `frame_index`, `episode_index` (and `index` in v3). Everything is checked
//! against the metadata: an episode's rows are together, its `frame_index` counts 0, 1, 2…, its
//! length matches; errors name the file, the row and the column.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use rayon::prelude::*;

use super::{ImportReport, Imported, Mapping, Roles, assign_roles, dataset_name, widen};
use crate::data::dataset::{Dataset, DatasetMeta, Episode, Units};
use crate::error::{Error, Location, Result, quote};

/// Where a LeRobot dataset's files come from: a folder, or memory (tests).
pub trait Files: Sync {
    /// The bytes of the file at `relative`.
    fn read(&self, relative: &str) -> std::io::Result<Vec<u8>>;
    /// Names of the entries of folder `relative`.
    fn list(&self, relative: &str) -> std::io::Result<Vec<String>>;
    /// The path shown in messages.
    fn path(&self, relative: &str) -> PathBuf;
}

/// A dataset folder on disk.
pub struct Folder(pub PathBuf);

impl Files for Folder {
    fn read(&self, relative: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.0.join(relative))
    }
    fn list(&self, relative: &str) -> std::io::Result<Vec<String>> {
        std::fs::read_dir(self.0.join(relative))?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect()
    }
    fn path(&self, relative: &str) -> PathBuf {
        self.0.join(relative)
    }
}

/// Files held in memory by relative path (`meta/info.json`, …).
#[derive(Debug, Clone, Default)]
pub struct MemoryFiles(pub BTreeMap<String, Vec<u8>>);

impl Files for MemoryFiles {
    fn read(&self, relative: &str) -> std::io::Result<Vec<u8>> {
        self.0.get(relative).cloned().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }
    fn list(&self, relative: &str) -> std::io::Result<Vec<String>> {
        let prefix = format!("{}/", relative.trim_end_matches('/'));
        let mut names: Vec<String> = self
            .0
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .collect();
        names.dedup();
        if names.is_empty() {
            return Err(std::io::Error::from(std::io::ErrorKind::NotFound));
        }
        Ok(names)
    }
    fn path(&self, relative: &str) -> PathBuf {
        PathBuf::from(relative)
    }
}

pub fn import(root: &Path, mapping: &Mapping) -> Result<Imported> {
    import_files(&Folder(root.to_path_buf()), &dataset_name(mapping, root), root, mapping)
}

/// Imports from any [`Files`]; `name` is the dataset name, `source` names it in the report.
pub fn import_files(files: &dyn Files, name: &str, source: &Path, mapping: &Mapping) -> Result<Imported> {
    let info = Info::read(files, mapping)?;
    let episodes_meta = match info.version {
        Version::V2 => episodes_jsonl(files)?,
        Version::V3 => episodes_parquet(files)?,
    };
    let at_info = Location::file(files.path(INFO));
    let roles = assign_roles(&info.names, mapping, &at_info.clone().column(info.state_key.clone()))?;
    let order = roles.order();
    let channel_names = Roles::names(&info.names, &order);

    // Data files and the episodes each holds.
    let mut by_file: BTreeMap<String, Vec<&EpisodeMeta>> = BTreeMap::new();
    for e in &episodes_meta {
        by_file.entry(info.data_file(e)?).or_default().push(e);
    }
    let read: Vec<(Vec<Episode>, usize)> = by_file
        .par_iter()
        .map(|(file, eps)| {
            let table = read_table(files, file, &info.state_key, info.version == Version::V3)?;
            episodes_of(files, file, &table, eps, &info, &order, &channel_names, mapping.drop_duplicates)
        })
        .collect::<Result<_>>()?;
    let mut dropped = 0;
    let mut episodes = Vec::with_capacity(episodes_meta.len());
    for (eps, d) in read {
        episodes.extend(eps);
        dropped += d;
    }
    episodes.sort_by(|a, b| a.name.cmp(&b.name));

    let rate = mapping.rate_hz.unwrap_or(info.fps);
    let robot = mapping.robot.clone().or_else(|| info.robot_type.clone()).unwrap_or_else(|| "unknown".into());
    let mut meta = DatasetMeta::new(
        name,
        &robot,
        rate,
        Roles::names(&info.names, &roles.joints),
        Roles::names(&info.names, &roles.gripper),
    );
    meta.auxiliary = Roles::names(&info.names, &roles.auxiliary);
    meta.units = Units {
        joints: mapping.angle_unit.unwrap_or_default(),
        gripper: mapping.gripper_unit.clone(),
        auxiliary: None,
        time: Default::default(),
    };
    meta.license = mapping.license.clone();
    meta.provenance = Some(serde_json::json!({
        "imported_by": "trajrnn import lerobot",
        "source": source.display().to_string(),
        "codebase_version": info.version_text,
        "robot_type": info.robot_type,
        "state": info.state_key,
    }));
    let dataset = Dataset::new(meta, episodes, &files.path(INFO))?;
    let mut notes = dataset.warnings.clone();
    if mapping.angle_unit.is_none() {
        notes.push("joint values taken as radians (pass --angle-unit deg if they are degrees)".into());
    }
    let report = ImportReport {
        format: format!("lerobot {}", info.version_text),
        source: source.to_path_buf(),
        episodes: dataset.episodes.len(),
        frames: dataset.total_frames(),
        joints: dataset.meta.joints.clone(),
        gripper: dataset.meta.gripper.clone(),
        auxiliary: dataset.meta.auxiliary.clone(),
        ignored: Roles::names(&info.names, &roles.ignored),
        dropped_duplicates: dropped,
        split: None,
        rate_hz: dataset.meta.rate_hz,
        notes,
    };
    Ok(Imported { dataset, report, files: vec![] })
}

const INFO: &str = "meta/info.json";
const EPISODES_JSONL: &str = "meta/episodes.jsonl";
const EPISODES_DIR: &str = "meta/episodes";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    /// v2.0 and v2.1: one data file per episode.
    V2,
    /// v3.0: several episodes per data file.
    V3,
}

/// What `meta/info.json` says.
struct Info {
    version: Version,
    version_text: String,
    fps: f64,
    robot_type: Option<String>,
    state_key: String,
    /// The state's entry names, in column order.
    names: Vec<String>,
    data_path: String,
    chunks_size: u64,
}

impl Info {
    fn read(files: &dyn Files, mapping: &Mapping) -> Result<Self> {
        let path = files.path(INFO);
        let bytes = files.read(INFO).map_err(|e| Error::io(&path, e))?;
        let at = || Location::file(&path);
        let json: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(at().line(e.line() as u64), format!("not valid JSON: {e}")))?;
        let field = |key: &str| json.get(key).ok_or_else(|| Error::invalid(at().column(key), "missing"));
        let version_text = field("codebase_version")?.as_str().unwrap_or_default().to_string();
        let version = match version_text.as_str() {
            "v2.0" | "v2.1" => Version::V2,
            "v3.0" => Version::V3,
            other => {
                return Err(Error::invalid(
                    at().column("codebase_version"),
                    format!("{} is not a version this reader knows (v2.0, v2.1, v3.0)", quote(other)),
                ));
            }
        };
        let fps = field("fps")?
            .as_f64()
            .filter(|f| f.is_finite() && *f > 0.0)
            .ok_or_else(|| Error::invalid(at().column("fps"), "must be a positive number"))?;
        let data_path = field("data_path")?
            .as_str()
            .ok_or_else(|| Error::invalid(at().column("data_path"), "must be a path template"))?
            .to_string();
        let chunks_size = json.get("chunks_size").and_then(|c| c.as_u64()).unwrap_or(1000).max(1);
        let state_key = mapping.state_key.clone().unwrap_or_else(|| "observation.state".into());
        let features = field("features")?;
        let feature = features.get(&state_key).ok_or_else(|| {
            let keys: Vec<&str> =
                features.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
            Error::invalid(
                at().column(format!("features.{state_key}")),
                format!("no such feature (features: {}; choose one with --state-key)", keys.join(", ")),
            )
        })?;
        let width = feature.get("shape").and_then(|s| s.get(0)).and_then(|w| w.as_u64());
        let names = state_names(feature.get("names"), &state_key, width)
            .map_err(|m| Error::invalid(at().column(format!("features.{state_key}.names")), m))?;
        Ok(Self {
            version,
            version_text,
            fps,
            robot_type: json.get("robot_type").and_then(|r| r.as_str()).map(String::from),
            state_key,
            names,
            data_path,
            chunks_size,
        })
    }

    /// The data file holding episode `e`.
    fn data_file(&self, e: &EpisodeMeta) -> Result<String> {
        let values: [(&str, i64); 4] = match self.version {
            Version::V2 => [
                ("episode_chunk", e.index / self.chunks_size as i64),
                ("episode_index", e.index),
                ("chunk_index", e.index / self.chunks_size as i64),
                ("file_index", e.index),
            ],
            Version::V3 => [
                ("chunk_index", e.chunk),
                ("file_index", e.file),
                ("episode_chunk", e.chunk),
                ("episode_index", e.index),
            ],
        };
        format_template(&self.data_path, &values)
            .map_err(|m| Error::invalid(Location::file(INFO).column("data_path"), m))
    }
}

/// The names of the state entries: a list (possibly nested), `{"motors": [...]}` or any
/// one-key map of a list, a `{name: index}` map, or nothing (then `<key>_<i>`, `width` of them).
fn state_names(
    names: Option<&serde_json::Value>,
    key: &str,
    width: Option<u64>,
) -> std::result::Result<Vec<String>, String> {
    use serde_json::Value;
    fn flatten(v: &Value, out: &mut Vec<String>) -> bool {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => return items.iter().all(|i| flatten(i, out)),
            _ => return false,
        }
        true
    }
    let mut out = Vec::new();
    match names {
        None | Some(Value::Null) => {
            let w = width.ok_or("neither names nor a shape give the state's width")?;
            if w > 100_000 {
                return Err(format!("shape [{w}] is not a joint state"));
            }
            out = (0..w).map(|i| format!("{key}_{i}")).collect();
        }
        Some(Value::Object(map)) if map.values().all(|v| v.is_u64()) => {
            let mut pairs: Vec<(u64, &String)> = map.iter().map(|(k, v)| (v.as_u64().unwrap_or(0), k)).collect();
            pairs.sort();
            if pairs.iter().enumerate().any(|(i, (p, _))| *p != i as u64) {
                return Err("a name→index map must give the indices 0, 1, 2… once each".into());
            }
            out = pairs.into_iter().map(|(_, k)| k.clone()).collect();
        }
        Some(Value::Object(map)) if map.len() == 1 => {
            if !flatten(map.values().next().expect("one entry"), &mut out) {
                return Err("expected a list of names".into());
            }
        }
        Some(v) => {
            if !flatten(v, &mut out) {
                return Err("expected a list of names, {\"motors\": [...]} or a name→index map".into());
            }
        }
    }
    if let Some(w) = width
        && w as usize != out.len()
    {
        return Err(format!("{} names for a state of shape [{w}]", out.len()));
    }
    if out.is_empty() {
        return Err("the state has no entry".into());
    }
    Ok(out)
}

/// Python-style `{name}` / `{name:03d}` substitution of integers.
fn format_template(template: &str, values: &[(&str, i64)]) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').ok_or_else(|| format!("unclosed `{{` in {}", quote(template)))? + open;
        let field = &rest[open + 1..close];
        let (name, spec) = field.split_once(':').unwrap_or((field, ""));
        let value = values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("unknown field {{{name}}}"))?;
        let width: usize = spec.trim_end_matches('d').trim_start_matches('0').parse().unwrap_or(0).min(32);
        out.push_str(&format!("{value:0width$}"));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    if out.contains("..") || out.starts_with('/') {
        return Err(format!("{} leaves the dataset folder", quote(&out)));
    }
    Ok(out)
}

/// One episode as the metadata describes it.
#[derive(Debug, Clone)]
struct EpisodeMeta {
    index: i64,
    length: u64,
    /// v3: the data file and the global row range `[from, to)` of the `index` column.
    chunk: i64,
    file: i64,
    from: i64,
    to: i64,
    /// Where the description came from, for messages.
    at: Location,
}

/// v2: `meta/episodes.jsonl`.
fn episodes_jsonl(files: &dyn Files) -> Result<Vec<EpisodeMeta>> {
    let path = files.path(EPISODES_JSONL);
    let bytes = files.read(EPISODES_JSONL).map_err(|e| Error::io(&path, e))?;
    let mut out: Vec<EpisodeMeta> = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let at = Location::file(&path).line(i as u64 + 1);
        let line = std::str::from_utf8(line).map_err(|e| Error::invalid(at.clone(), format!("not UTF-8 text: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| Error::invalid(at.clone(), format!("not valid JSON: {e}")))?;
        let int = |key: &str| {
            v.get(key)
                .and_then(|x| x.as_i64())
                .filter(|x| *x >= 0)
                .ok_or_else(|| Error::invalid(at.clone().column(key), "missing or not a non-negative integer"))
        };
        let (index, length) = (int("episode_index")?, int("length")? as u64);
        out.push(EpisodeMeta { index, length, chunk: 0, file: 0, from: 0, to: 0, at });
    }
    check_indices(&mut out, &path)?;
    Ok(out)
}

/// Episode indices are unique; sorted by index.
fn check_indices(episodes: &mut [EpisodeMeta], path: &Path) -> Result<()> {
    episodes.sort_by_key(|e| e.index);
    if let Some(w) = episodes.windows(2).find(|w| w[0].index == w[1].index) {
        return Err(Error::invalid(
            w[1].at.clone().column("episode_index"),
            format!("episode {} is listed twice", w[1].index),
        ));
    }
    if episodes.is_empty() {
        return Err(Error::invalid(Location::file(path), "lists no episode"));
    }
    Ok(())
}

/// v3: `meta/episodes/chunk-*/file-*.parquet`.
fn episodes_parquet(files: &dyn Files) -> Result<Vec<EpisodeMeta>> {
    let dir_path = files.path(EPISODES_DIR);
    let mut chunks = files.list(EPISODES_DIR).map_err(|e| Error::io(&dir_path, e))?;
    chunks.retain(|c| c.starts_with("chunk-"));
    chunks.sort();
    let mut out = Vec::new();
    for chunk in chunks {
        let dir = format!("{EPISODES_DIR}/{chunk}");
        let mut names = files.list(&dir).map_err(|e| Error::io(files.path(&dir), e))?;
        names.retain(|n| n.ends_with(".parquet"));
        names.sort();
        for name in names {
            let file = format!("{dir}/{name}");
            let batches = read_batches(
                files,
                &file,
                &["episode_index", "data/chunk_index", "data/file_index", "dataset_from_index", "dataset_to_index"],
            )?;
            let mut row = 0u64;
            for batch in &batches {
                let cols: Vec<Vec<i64>> = (0..5)
                    .map(|c| integers(batch.column(c), &files.path(&file), batch.schema().field(c).name(), row))
                    .collect::<Result<_>>()?;
                let [index, chunk, file_index, from, to] = &cols[..] else { unreachable!("five columns") };
                for r in 0..batch.num_rows() {
                    let at = Location::file(files.path(&file)).row(row + r as u64);
                    let (from, to) = (from[r], to[r]);
                    if from < 0 || to < from {
                        return Err(Error::invalid(
                            at.column("dataset_to_index"),
                            format!("range [{from}, {to}) is not a range of rows"),
                        ));
                    }
                    out.push(EpisodeMeta {
                        index: index[r],
                        length: (to - from) as u64,
                        chunk: chunk[r],
                        file: file_index[r],
                        from,
                        to,
                        at,
                    });
                }
                row += batch.num_rows() as u64;
            }
        }
    }
    check_indices(&mut out, &dir_path)?;
    Ok(out)
}

/// The columns of one data file that the import needs, row-major state.
struct Table {
    state: Vec<f32>,
    width: usize,
    time: Vec<f64>,
    frame_index: Vec<i64>,
    episode_index: Vec<i64>,
    /// v3: the global row index.
    index: Vec<i64>,
}

fn read_table(files: &dyn Files, file: &str, state_key: &str, with_index: bool) -> Result<Table> {
    let path = files.path(file);
    let mut wanted = vec![state_key, "timestamp", "frame_index", "episode_index"];
    if with_index {
        wanted.push("index");
    }
    let batches = read_batches(files, file, &wanted)?;
    let mut t =
        Table { state: vec![], width: 0, time: vec![], frame_index: vec![], episode_index: vec![], index: vec![] };
    let mut row = 0u64;
    for batch in &batches {
        let (values, width) = state_values(batch.column(0), &path, state_key, row)?;
        if row > 0 && width != t.width {
            return Err(Error::invalid(
                Location::file(&path).row(row).column(state_key),
                format!("{width} entries where earlier rows have {}", t.width),
            ));
        }
        t.width = width;
        t.state.extend(values);
        t.time.extend(floats(batch.column(1), &path, "timestamp", row)?);
        t.frame_index.extend(integers(batch.column(2), &path, "frame_index", row)?);
        t.episode_index.extend(integers(batch.column(3), &path, "episode_index", row)?);
        if with_index {
            t.index.extend(integers(batch.column(4), &path, "index", row)?);
        }
        row += batch.num_rows() as u64;
    }
    Ok(t)
}

/// Reads the named top-level columns of a parquet file (in `names` order in each batch); a
/// panic inside parquet becomes an error for the file (see `guard.rs`).
fn read_batches(files: &dyn Files, file: &str, names: &[&str]) -> Result<Vec<RecordBatch>> {
    let path = files.path(file);
    let read = || Ok::<_, std::convert::Infallible>(read_batches_unguarded(files, file, names));
    match super::guard::guard(super::guard::Library::Parquet, read) {
        Ok(batches) => batches,
        Err(panic) => Err(Error::invalid(Location::file(&path), format!("not a readable parquet file: {panic}"))),
    }
}

fn read_batches_unguarded(files: &dyn Files, file: &str, names: &[&str]) -> Result<Vec<RecordBatch>> {
    let path = files.path(file);
    let bytes = Bytes::from(files.read(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::invalid(
            Location::file(&path),
            format!("file missing ({INFO}'s data_path and the episode metadata place episodes in it)"),
        ),
        _ => Error::io(&path, e),
    })?);
    let not_parquet =
        |e: &dyn std::fmt::Display| Error::invalid(Location::file(&path), format!("not a readable parquet file: {e}"));
    // The Arrow schema that writers embed (base64 IPC in the footer) is not read: the parquet
    // schema gives every type we accept, and arrow-ipc panics on some damaged ones (found by
    // the malformed-input tests: "Int type with bit width of 104").
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let file_len = bytes.len() as i64;
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, options).map_err(|e| not_parquet(&e))?;
    // Column chunks must lie inside the file: parquet asserts (panics) on a negative offset.
    for (g, group) in builder.metadata().row_groups().iter().enumerate() {
        for column in group.columns() {
            let start = column.dictionary_page_offset().unwrap_or(column.data_page_offset());
            let len = column.compressed_size();
            if start < 0 || len < 0 || start.saturating_add(len) > file_len {
                return Err(Error::invalid(
                    Location::file(&path).group(format!("row group {g}")).column(column.column_path().string()),
                    format!("not a readable parquet file: column chunk at {start}, {len} bytes, outside the file"),
                ));
            }
        }
    }
    // By root index: ProjectionMask::columns splits names at '.', and LeRobot's names have dots.
    let schema = builder.schema().clone();
    let mut roots = Vec::with_capacity(names.len());
    for name in names {
        let i = schema.index_of(name).map_err(|_| {
            let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            Error::invalid(
                Location::file(&path).column(*name),
                format!("missing column (the file has: {})", have.join(", ")),
            )
        })?;
        roots.push(i);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
    let reader = builder.with_projection(mask).build().map_err(|e| not_parquet(&e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| not_parquet(&e))?;
        // The projection keeps file order; put the columns in the order asked for.
        let order: Vec<usize> = names
            .iter()
            .map(|n| {
                batch
                    .schema()
                    .index_of(n)
                    .map_err(|_| Error::invalid(Location::file(&path).column(*n), "missing column"))
            })
            .collect::<Result<_>>()?;
        out.push(batch.project(&order).map_err(|e| not_parquet(&e))?);
    }
    Ok(out)
}

/// The first null of `a`, as an error naming its row.
fn no_nulls(a: &dyn Array, path: &Path, column: &str, first_row: u64) -> Result<()> {
    if a.null_count() > 0 {
        let r = (0..a.len()).find(|&i| a.is_null(i)).unwrap_or(0);
        return Err(Error::invalid(Location::file(path).row(first_row + r as u64).column(column), "value is null"));
    }
    Ok(())
}

fn integers(a: &ArrayRef, path: &Path, column: &str, first_row: u64) -> Result<Vec<i64>> {
    no_nulls(a.as_ref(), path, column, first_row)?;
    if let Some(v) = a.as_primitive_opt::<Int64Type>() {
        Ok(v.values().to_vec())
    } else if let Some(v) = a.as_primitive_opt::<Int32Type>() {
        Ok(v.values().iter().map(|&x| x as i64).collect())
    } else {
        Err(type_error(path, column, a.data_type(), "integers"))
    }
}

fn floats(a: &ArrayRef, path: &Path, column: &str, first_row: u64) -> Result<Vec<f64>> {
    no_nulls(a.as_ref(), path, column, first_row)?;
    if let Some(v) = a.as_primitive_opt::<Float32Type>() {
        Ok(v.values().iter().map(|&x| widen(x)).collect())
    } else if let Some(v) = a.as_primitive_opt::<Float64Type>() {
        Ok(v.values().to_vec())
    } else {
        Err(type_error(path, column, a.data_type(), "floats"))
    }
}

fn type_error(path: &Path, column: &str, found: &DataType, wanted: &str) -> Error {
    Error::invalid(Location::file(path).column(column), format!("holds {found}, expected {wanted}"))
}

/// A list column (fixed-size or not) of floats as row-major f32 with its width.
fn state_values(a: &ArrayRef, path: &Path, column: &str, first_row: u64) -> Result<(Vec<f32>, usize)> {
    no_nulls(a.as_ref(), path, column, first_row)?;
    let (values, width, start) = if let Some(l) = a.as_fixed_size_list_opt() {
        (l.values().clone(), l.value_length().max(0) as usize, l.value_offset(0).max(0) as usize)
    } else if let Some(l) = a.as_list_opt::<i32>() {
        let offsets = l.value_offsets();
        let width = if l.is_empty() { 0 } else { (offsets[1] - offsets[0]).max(0) as usize };
        if let Some(r) = offsets.windows(2).position(|w| (w[1] - w[0]) as usize != width) {
            return Err(Error::invalid(
                Location::file(path).row(first_row + r as u64).column(column),
                format!("{} entries where the first row has {width}", offsets[r + 1] - offsets[r]),
            ));
        }
        (l.values().clone(), width, offsets[0].max(0) as usize)
    } else {
        return Err(type_error(path, column, a.data_type(), "a list of floats"));
    };
    let n = a.len() * width;
    if start + n > values.len() {
        return Err(Error::invalid(Location::file(path).column(column), "list values are shorter than their offsets"));
    }
    let values = values.slice(start, n);
    if values.null_count() > 0 {
        let i = (0..values.len()).find(|&i| values.is_null(i)).unwrap_or(0);
        let row = first_row + (i / width.max(1)) as u64;
        return Err(Error::invalid(
            Location::file(path).row(row).column(format!("{column}[{}]", i % width.max(1))),
            "value is null",
        ));
    }
    let out = if let Some(v) = values.as_primitive_opt::<Float32Type>() {
        v.values().to_vec()
    } else if let Some(v) = values.as_primitive_opt::<Float64Type>() {
        v.values().iter().map(|&x| x as f32).collect()
    } else {
        return Err(type_error(path, column, values.data_type(), "a list of floats"));
    };
    Ok((out, width))
}

/// Cuts a data file's rows into the episodes `expected` says it holds, checking each row.
#[allow(clippy::too_many_arguments)]
fn episodes_of(
    files: &dyn Files,
    file: &str,
    t: &Table,
    expected: &[&EpisodeMeta],
    info: &Info,
    order: &[usize],
    channels: &[String],
    drop_duplicates: bool,
) -> Result<(Vec<Episode>, usize)> {
    let path = files.path(file);
    let at = |row: usize| Location::file(&path).row(row as u64);
    if t.width != info.names.len() {
        return Err(Error::invalid(
            Location::file(&path).column(info.state_key.clone()),
            format!("{} entries per row; {INFO} names {}", t.width, info.names.len()),
        ));
    }
    let wanted: HashMap<i64, &EpisodeMeta> = expected.iter().map(|e| (e.index, *e)).collect();
    let mut out = Vec::with_capacity(expected.len());
    let mut dropped = 0;
    let mut start = 0;
    let rows = t.time.len();
    while start < rows {
        let index = t.episode_index[start];
        let end = (start..rows).find(|&r| t.episode_index[r] != index).unwrap_or(rows);
        let meta = wanted.get(&index).ok_or_else(|| {
            Error::invalid(
                at(start).column("episode_index"),
                format!("episode {index} is not one the metadata places in this file"),
            )
        })?;
        if out.iter().any(|e: &Episode| e.name == episode_name(index)) {
            return Err(Error::invalid(
                at(start).column("episode_index"),
                format!("episode {index} continues here after other episodes (its rows must be together)"),
            ));
        }
        if (end - start) as u64 != meta.length {
            return Err(Error::invalid(
                at(start).column("episode_index"),
                format!("episode {index} has {} rows; the metadata ({}) says {}", end - start, meta.at, meta.length),
            ));
        }
        let dim = order.len();
        let mut time = Vec::with_capacity(end - start);
        let mut states = Vec::with_capacity((end - start) * dim);
        for r in start..end {
            let frame = t.frame_index[r];
            if frame != (r - start) as i64 {
                return Err(Error::invalid(
                    at(r).column("frame_index"),
                    format!("frame_index {frame} where {} follows (frames of an episode count 0, 1, 2…)", r - start),
                ));
            }
            if info.version == Version::V3 && t.index[r] != meta.from + (r - start) as i64 {
                return Err(Error::invalid(
                    at(r).column("index"),
                    format!(
                        "index {} where {} follows ({}: rows [{}, {}))",
                        t.index[r],
                        meta.from + (r - start) as i64,
                        meta.at,
                        meta.from,
                        meta.to
                    ),
                ));
            }
            let row = &t.state[r * t.width..(r + 1) * t.width];
            for (k, &i) in order.iter().enumerate() {
                if !row[i].is_finite() {
                    return Err(Error::invalid(
                        at(r).column(format!("{}[{i}] ({})", info.state_key, channels[k])),
                        format!("value {} is not finite", row[i]),
                    ));
                }
            }
            let tr = t.time[r];
            if !tr.is_finite() {
                return Err(Error::invalid(at(r).column("timestamp"), format!("timestamp {tr} is not finite")));
            }
            if let Some(&prev) = time.last() {
                let repeats = tr == prev && order.iter().zip(&states[states.len() - dim..]).all(|(&i, v)| row[i] == *v);
                if repeats && drop_duplicates {
                    dropped += 1;
                    continue;
                }
                if tr <= prev {
                    return Err(Error::invalid(
                        at(r).column("timestamp"),
                        format!("timestamps must increase: {tr} follows {prev}"),
                    ));
                }
            }
            time.push(tr);
            states.extend(order.iter().map(|&i| row[i]));
        }
        let source = PathBuf::from(format!("{}:episode_index={index}", path.display()));
        out.push(Episode::new(episode_name(index), source, time, states, dim));
        start = end;
    }
    if let Some(missing) = expected.iter().find(|e| !out.iter().any(|o| o.name == episode_name(e.index))) {
        return Err(Error::invalid(
            Location::file(&path).column("episode_index"),
            format!("episode {} (listed at {}) has no rows in this file", missing.index, missing.at),
        ));
    }
    Ok((out, dropped))
}

fn episode_name(index: i64) -> String {
    format!("episode_{index:06}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_format_like_python() {
        let t = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet";
        assert_eq!(
            format_template(t, &[("episode_chunk", 1), ("episode_index", 1234)]).unwrap(),
            "data/chunk-001/episode_001234.parquet"
        );
        assert!(format_template("data/{nope}.parquet", &[]).unwrap_err().contains("nope"));
        assert!(format_template("../{x}", &[("x", 1)]).is_err());
    }

    #[test]
    fn names_in_every_recorded_form() {
        use serde_json::json;
        let list = json!(["a", "b"]);
        assert_eq!(state_names(Some(&list), "s", Some(2)).unwrap(), ["a", "b"]);
        assert_eq!(state_names(Some(&json!({"motors": ["a", "b"]})), "s", None).unwrap(), ["a", "b"]);
        assert_eq!(state_names(Some(&json!({"b": 1, "a": 0})), "s", None).unwrap(), ["a", "b"]);
        assert_eq!(state_names(None, "s", Some(2)).unwrap(), ["s_0", "s_1"]);
        assert!(state_names(Some(&list), "s", Some(3)).unwrap_err().contains("2 names"));
    }
}
