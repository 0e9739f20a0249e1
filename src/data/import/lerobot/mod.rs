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
//! and the columns `observation.state` (or `state`; fixed-size or variable list of
//! float32/float64), `timestamp`, `frame_index`, `episode_index` (and `index` in v3), and the
//! commands `action` (or `actions`, or `--action-key`), which become command channels named
//! `action.<entry>` (driving the state channel of the same entry name, if any). Everything is checked
//! against the metadata: an episode's rows are together, its `frame_index` counts 0, 1, 2…, its
//! length matches; errors name the file, the row and the column.

mod meta;
mod pages;
mod table;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use self::meta::{EpisodeMeta, INFO, Info, Version, episodes_jsonl, episodes_parquet};
use self::table::{Table, read_table};
use super::{ImportReport, Imported, Mapping, Roles, assign_roles, dataset_name};
use crate::data::dataset::{Dataset, DatasetMeta, Episode, Units};
use crate::error::{Error, Location, Result};

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

/// Imports the LeRobot dataset folder `root` (`meta/info.json` and the parquet data files).
pub(crate) fn import(root: &Path, mapping: &Mapping) -> Result<Imported> {
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
            let action_key = info.action.as_ref().map(|(k, _)| k.as_str());
            let table = read_table(files, file, &info.state_key, action_key, info.version == Version::V3)?;
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
    if let Some((key, names)) = &info.action {
        meta.commands = super::command_channels(key, names, &meta.channels());
    }
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
        "commands": info.action.as_ref().map(|(k, _)| k.clone()),
    }));
    let dataset = Dataset::new(meta, episodes, &files.path(INFO))?;
    let mut notes = dataset.warnings.clone();
    if mapping.angle_unit.is_none() {
        notes.push("joint values taken as radians (pass --angle-unit deg if they are degrees)".into());
    }
    let format = format!("lerobot {}", info.version_text);
    let report = ImportReport::of(format, source, &dataset, Roles::names(&info.names, &roles.ignored), dropped, notes);
    Ok(Imported { dataset, report, files: vec![] })
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
    if let Some((key, names)) = &info.action
        && t.action_width != names.len()
    {
        return Err(Error::invalid(
            Location::file(&path).column(key.clone()),
            format!("{} entries per row; {INFO} names {}", t.action_width, names.len()),
        ));
    }
    let m = t.action_width;
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
        let mut commands = Vec::with_capacity((end - start) * m);
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
            let command = crate::data::channels::row(&t.action, m, r);
            if let Some(i) = command.iter().position(|v| !v.is_finite()) {
                let (key, names) = info.action.as_ref().expect("a width only with a command column");
                return Err(Error::invalid(
                    at(r).column(format!("{key}[{i}] ({})", names[i])),
                    format!("value {} is not finite", command[i]),
                ));
            }
            let tr = t.time[r];
            if !tr.is_finite() {
                return Err(Error::invalid(at(r).column("timestamp"), format!("timestamp {tr} is not finite")));
            }
            if let Some(&prev) = time.last() {
                let repeats = tr == prev
                    && order.iter().zip(&states[states.len() - dim..]).all(|(&i, v)| row[i] == *v)
                    && commands[commands.len() - m..] == *command;
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
            commands.extend_from_slice(command);
        }
        let source = PathBuf::from(format!("{}:episode_index={index}", path.display()));
        let mut episode = Episode::new(episode_name(index), source, time, states, dim);
        if info.action.is_some() {
            episode.commands = Some(commands);
        }
        out.push(episode);
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
