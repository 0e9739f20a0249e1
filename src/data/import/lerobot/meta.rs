//! What a LeRobot folder's metadata says: `meta/info.json` (version, rate, the state's entry
//! names, the data path template) and the episodes (`meta/episodes.jsonl` in v2,
//! `meta/episodes/chunk-*/file-*.parquet` in v3).

use std::path::Path;

use super::Files;
use super::table::{integers, read_batches};
use crate::data::import::Mapping;
use crate::error::{Error, Location, Result, quote};

pub(super) const INFO: &str = "meta/info.json";
const EPISODES_JSONL: &str = "meta/episodes.jsonl";
const EPISODES_DIR: &str = "meta/episodes";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Version {
    /// v2.0 and v2.1: one data file per episode.
    V2,
    /// v3.0: several episodes per data file.
    V3,
}

/// What `meta/info.json` says.
pub(super) struct Info {
    pub(super) version: Version,
    pub(super) version_text: String,
    pub(super) fps: f64,
    pub(super) robot_type: Option<String>,
    pub(super) state_key: String,
    /// The state's entry names, in column order.
    pub(super) names: Vec<String>,
    /// The command feature and its entry names, when the dataset has one and it is imported.
    pub(super) action: Option<(String, Vec<String>)>,
    pub(super) data_path: String,
    pub(super) chunks_size: u64,
}

impl Info {
    pub(super) fn read(files: &dyn Files, mapping: &Mapping) -> Result<Self> {
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
        let features = field("features")?;
        let has = |key: &str| features.get(key).is_some();
        // LeRobot's own names first; some writers use `state` and `actions`.
        let state_key = mapping.state_key.clone().unwrap_or_else(|| {
            if !has("observation.state") && has("state") { "state".into() } else { "observation.state".into() }
        });
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
        let action_key = match &mapping.action_key {
            _ if mapping.no_commands => None,
            Some(key) if has(key) => Some(key.clone()),
            Some(key) => {
                return Err(Error::invalid(
                    at().column(format!("features.{key}")),
                    "no such feature (choose the command feature with --action-key, or --no-commands)",
                ));
            }
            None => ["action", "actions"].into_iter().find(|k| has(k)).map(String::from),
        };
        let action = match action_key {
            Some(key) => {
                let feature = &features[&key];
                let width = feature.get("shape").and_then(|s| s.get(0)).and_then(|w| w.as_u64());
                let names = state_names(feature.get("names"), &key, width)
                    .map_err(|m| Error::invalid(at().column(format!("features.{key}.names")), m))?;
                Some((key, names))
            }
            None => None,
        };
        Ok(Self {
            version,
            version_text,
            fps,
            robot_type: json.get("robot_type").and_then(|r| r.as_str()).map(String::from),
            state_key,
            names,
            action,
            data_path,
            chunks_size,
        })
    }

    /// The data file holding episode `e`.
    pub(super) fn data_file(&self, e: &EpisodeMeta) -> Result<String> {
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
pub(super) struct EpisodeMeta {
    pub(super) index: i64,
    pub(super) length: u64,
    /// v3: the data file and the global row range `[from, to)` of the `index` column.
    pub(super) chunk: i64,
    pub(super) file: i64,
    pub(super) from: i64,
    pub(super) to: i64,
    /// Where the description came from, for messages.
    pub(super) at: Location,
}

/// v2: `meta/episodes.jsonl`.
pub(super) fn episodes_jsonl(files: &dyn Files) -> Result<Vec<EpisodeMeta>> {
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
pub(super) fn episodes_parquet(files: &dyn Files) -> Result<Vec<EpisodeMeta>> {
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
