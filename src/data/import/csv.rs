//! CSV with a header: a time column and one column per channel, one file per episode (a file or
//! a folder of `*.csv`) or rows of several episodes told apart by an episode column. A trajrnn
//! dataset folder is accepted too (to rewrite it, e.g. with `--drop-duplicates`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{ImportReport, Imported, Mapping, Roles, assign_roles, dataset_name, rate_from_steps};
use crate::data::csv_episode::{ReadOptions, parse_number};
use crate::data::dataset::{Dataset, DatasetMeta, Episode, Units};
use crate::error::{Error, Location, Result, quote};

/// Time column names tried, in order, when the mapping names none.
const TIME_COLUMNS: [&str; 3] = ["time", "timestamp", "t"];

/// Imports a CSV file, or the `*.csv` files of a folder in name order (one episode per file, or
/// per value of the mapping's episode column); a trajrnn dataset folder is read and rewritten.
pub(crate) fn import(source: &Path, mapping: &Mapping) -> Result<Imported> {
    if source.join("dataset.json").is_file() {
        return import_dataset_folder(source, mapping);
    }
    let files = list_files(source)?;
    let layout = Layout::read(&files[0], mapping)?;
    let at = Location::file(&files[0]).line(1);
    let roles = assign_roles(&layout.entries, mapping, &at)?;
    let read: Vec<(Vec<RawEpisode>, usize)> =
        files.par_iter().map(|f| read_file(f, &layout, &roles, mapping.drop_duplicates)).collect::<Result<_>>()?;

    let several_files = files.len() > 1;
    let dim = roles.order().len();
    let mut episodes = Vec::new();
    let mut dropped = 0;
    for (file, (raws, file_dropped)) in files.iter().zip(read) {
        dropped += file_dropped;
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        for raw in raws {
            let name = match (&raw.key, several_files) {
                (None, _) => stem.clone(),
                (Some(k), false) => safe_name(k),
                (Some(k), true) => format!("{stem}_{}", safe_name(k)),
            };
            let source = match &raw.key {
                Some(k) => PathBuf::from(format!("{}:{}={k}", file.display(), layout.episode_column_name())),
                None => file.clone(),
            };
            let mut episode = Episode::new(name, source, raw.time, raw.states, dim);
            if !roles.commands.is_empty() {
                episode.commands = Some(raw.commands);
            }
            episodes.push(episode);
        }
    }
    let time_unit = mapping.time_unit.unwrap_or_default();
    let rate = match mapping.rate_hz {
        Some(r) => r,
        None => rate_from_steps(episodes.iter().map(|e| e.time.as_slice()))
            .map(|r| r / time_unit.to_seconds())
            .ok_or_else(|| {
                Error::invalid(Location::file(source), "cannot measure a rate (no episode has two frames); pass --rate")
            })?,
    };
    let rate = (rate * 1000.0).round() / 1000.0;
    let names = &layout.entries;
    let mut meta = DatasetMeta::new(
        &dataset_name(mapping, source),
        mapping.robot.as_deref().unwrap_or("unknown"),
        rate,
        Roles::names(names, &roles.joints),
        Roles::names(names, &roles.gripper),
    );
    meta.auxiliary = Roles::names(names, &roles.auxiliary);
    meta.commands = Roles::names(names, &roles.commands)
        .into_iter()
        .map(|name| crate::data::dataset::CommandChannel {
            drives: command_target(&name, &meta.channels()),
            name,
            unit: None,
        })
        .collect();
    meta.units = Units {
        joints: mapping.angle_unit.unwrap_or_default(),
        gripper: mapping.gripper_unit.clone(),
        auxiliary: None,
        time: time_unit,
    };
    meta.license = mapping.license.clone();
    meta.provenance = Some(serde_json::json!({
        "imported_by": "trajrnn import csv",
        "source": source.display().to_string(),
        "files": files.iter().map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())).collect::<Vec<_>>(),
    }));
    let dataset = Dataset::new(meta, episodes, source)?;
    let ignored = Roles::names(names, &roles.ignored);
    let report = ImportReport::of("csv".into(), source, &dataset, ignored, dropped, dataset.warnings.clone());
    Ok(Imported { dataset, report, files: vec![] })
}

/// A trajrnn folder read with the mapping's leniency and written again (its roles stay).
fn import_dataset_folder(source: &Path, mapping: &Mapping) -> Result<Imported> {
    let mut dataset = Dataset::load_with(source, ReadOptions { drop_duplicate_frames: mapping.drop_duplicates })?;
    if let Some(name) = &mapping.name {
        dataset.meta.name = name.clone();
    }
    let mut files = Vec::new();
    if let (Some(r), Some(path)) = (&dataset.meta.robot_description, dataset.robot_description_path()) {
        // The description travels with the data when it sits inside the folder.
        if !r.path.contains('/') && !r.path.contains('\\') {
            dataset.check_inside(&path, dataset.robot_description_field())?;
            files.push((r.path.clone(), std::fs::read(&path).map_err(|e| Error::io(&path, e))?));
        }
    }
    let (dropped, notes) = (dataset.dropped_frames, dataset.warnings.clone());
    let report = ImportReport::of("trajrnn".into(), source, &dataset, vec![], dropped, notes);
    Ok(Imported { dataset, report, files })
}

/// The CSV files of `source`: the file itself, or the `*.csv` files of a folder in name order.
fn list_files(source: &Path) -> Result<Vec<PathBuf>> {
    if source.is_file() {
        return Ok(vec![source.to_path_buf()]);
    }
    let entries = std::fs::read_dir(source).map_err(|e| Error::io(source, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(source, e))?.path();
        if path.is_file() && path.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")) {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::invalid(Location::file(source), "holds no *.csv file"));
    }
    Ok(files)
}

/// What each column of the files is: found from the first file's header.
struct Layout {
    /// Channel candidates: every column but time and episode, in header order.
    entries: Vec<String>,
    time_column: String,
    episode_column: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Time,
    Episode,
    /// Position in the dataset's channel order.
    Channel(usize),
    /// Position among the commands.
    Command(usize),
    Skip,
}

impl Layout {
    fn read(file: &Path, mapping: &Mapping) -> Result<Self> {
        let header = read_header(file)?;
        let at = || Location::file(file).line(1);
        let time_column = match &mapping.time_column {
            Some(t) if header.contains(t) => t.clone(),
            Some(t) => {
                return Err(Error::invalid(
                    at().column(t.clone()),
                    format!("no time column {} (columns: {})", quote(t), header.join(", ")),
                ));
            }
            None => TIME_COLUMNS.iter().find(|c| header.iter().any(|h| h == *c)).map(|c| c.to_string()).ok_or_else(
                || {
                    Error::invalid(
                        at().column("time"),
                        format!("no time column (tried {}; name it with --time-column)", TIME_COLUMNS.join(", ")),
                    )
                },
            )?,
        };
        if let Some(e) = &mapping.episode_column
            && !header.contains(e)
        {
            return Err(Error::invalid(
                at().column(e.clone()),
                format!("no episode column {} (columns: {})", quote(e), header.join(", ")),
            ));
        }
        let entries = header
            .iter()
            .filter(|h| **h != time_column && Some(*h) != mapping.episode_column.as_ref())
            .cloned()
            .collect();
        Ok(Self { entries, time_column, episode_column: mapping.episode_column.clone() })
    }

    fn episode_column_name(&self) -> &str {
        self.episode_column.as_deref().unwrap_or("episode")
    }

    /// Each column's target in `file`, whose header must hold the same columns as the first
    /// file's (in any order).
    fn targets(&self, file: &Path, header: &[String], roles: &Roles) -> Result<Vec<Target>> {
        let at = || Location::file(file).line(1);
        let mut seen = HashSet::new();
        let order = roles.order();
        let mut targets = Vec::with_capacity(header.len());
        for h in header {
            if !seen.insert(h.as_str()) {
                return Err(Error::invalid(at().column(h.clone()), "duplicate column"));
            }
            targets.push(if *h == self.time_column {
                Target::Time
            } else if Some(h) == self.episode_column.as_ref() {
                Target::Episode
            } else if let Some(i) = self.entries.iter().position(|e| e == h) {
                match order.iter().position(|&o| o == i) {
                    Some(c) => Target::Channel(c),
                    None => roles.commands.iter().position(|&o| o == i).map_or(Target::Skip, Target::Command),
                }
            } else {
                return Err(Error::invalid(
                    at().column(h.clone()),
                    "extra column: the first file has no such column (all files need the same columns)",
                ));
            });
        }
        let required = std::iter::once(&self.time_column).chain(&self.episode_column).chain(&self.entries);
        if let Some(missing) = required.into_iter().find(|c| !seen.contains(c.as_str())) {
            return Err(Error::invalid(at().column(missing.clone()), "missing column (the first file has it)"));
        }
        Ok(targets)
    }
}

fn reader(file: &Path) -> Result<csv::Reader<std::fs::File>> {
    let f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
    if f.metadata().map(|m| m.len() == 0).unwrap_or(false) {
        return Err(Error::invalid(Location::file(file), "the file is empty (no header line)"));
    }
    // Fields are trimmed where they are parsed (the reader's trimming copies every record).
    Ok(csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::Headers).from_reader(f))
}

fn read_header(file: &Path) -> Result<Vec<String>> {
    let mut r = reader(file)?;
    let header = r.headers().map_err(|e| csv_error(file, e))?;
    Ok(header.iter().map(str::to_string).collect())
}

/// One episode's rows as read (time in the file's unit).
struct RawEpisode {
    key: Option<String>,
    time: Vec<f64>,
    states: Vec<f32>,
    commands: Vec<f32>,
}

/// Reads every row of `file` into episodes (one, or one per run of the episode column); with
/// `drop_duplicates`, rows repeating the previous row exactly are dropped and counted.
fn read_file(file: &Path, layout: &Layout, roles: &Roles, drop_duplicates: bool) -> Result<(Vec<RawEpisode>, usize)> {
    let mut r = reader(file)?;
    let header: Vec<String> = r.headers().map_err(|e| csv_error(file, e))?.iter().map(str::to_string).collect();
    let targets = layout.targets(file, &header, roles)?;
    let dim = roles.order().len();
    let m = roles.commands.len();
    let mut out: Vec<RawEpisode> = Vec::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut record = csv::ByteRecord::new();
    let mut row = vec![0f32; dim];
    let mut command_row = vec![0f32; m];
    let mut dropped = 0;
    loop {
        match r.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(file, e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        let at = || Location::file(file).line(line);
        if record.len() != header.len() {
            return Err(Error::invalid(
                at(),
                format!("ragged row: {} fields where the header has {}", record.len(), header.len()),
            ));
        }
        let mut t = f64::NAN;
        let mut key = None;
        for ((field, name), target) in record.iter().zip(&header).zip(&targets) {
            let number = || {
                parse_number(field).ok_or_else(|| {
                    Error::invalid(
                        at().column(name.clone()),
                        format!("{} is not a number", quote(&String::from_utf8_lossy(field.trim_ascii()))),
                    )
                })
            };
            match *target {
                Target::Skip => {}
                Target::Episode => key = Some(String::from_utf8_lossy(field.trim_ascii()).into_owned()),
                Target::Time => t = number()?,
                Target::Channel(_) | Target::Command(_) => {
                    let v = number()?;
                    if !v.is_finite() {
                        return Err(Error::invalid(at().column(name.clone()), format!("value {v} is not finite")));
                    }
                    if v.abs() > f32::MAX as f64 {
                        return Err(Error::invalid(
                            at().column(name.clone()),
                            format!("value {v} does not fit a 32-bit float"),
                        ));
                    }
                    match *target {
                        Target::Channel(c) => row[c] = v as f32,
                        Target::Command(c) => command_row[c] = v as f32,
                        _ => unreachable!("matched above"),
                    }
                }
            }
        }
        if !t.is_finite() {
            return Err(Error::invalid(
                at().column(layout.time_column.clone()),
                format!("timestamp {t} is not finite"),
            ));
        }
        let new_episode = out.last().is_none_or(|e| e.key != key);
        if new_episode {
            if let Some(k) = &key
                && finished.contains(k)
            {
                return Err(Error::invalid(
                    at().column(layout.episode_column_name().to_string()),
                    format!(
                        "episode {} appears again after other episodes (rows of an episode must be together)",
                        quote(k)
                    ),
                ));
            }
            if let Some(prev) = out.last().and_then(|e| e.key.clone()) {
                finished.insert(prev);
            }
            out.push(RawEpisode { key: key.clone(), time: Vec::new(), states: Vec::new(), commands: Vec::new() });
        }
        let episode = out.last_mut().expect("pushed above");
        if let Some(&prev) = episode.time.last() {
            let repeats = t == prev
                && episode.states[episode.states.len() - dim..] == row[..]
                && episode.commands[episode.commands.len() - m..] == command_row[..];
            if repeats && drop_duplicates {
                dropped += 1;
                continue;
            }
            if t <= prev {
                let what =
                    if repeats { "the row repeats the previous frame (--drop-duplicates drops it); " } else { "" };
                return Err(Error::invalid(
                    at().column(layout.time_column.clone()),
                    format!("timestamps must increase: {what}{t} follows {prev}"),
                ));
            }
        }
        episode.time.push(t);
        episode.states.extend_from_slice(&row);
        episode.commands.extend_from_slice(&command_row);
    }
    if out.is_empty() {
        return Err(Error::invalid(Location::file(file), "the file has a header but no row"));
    }
    Ok((out, dropped))
}

/// The state channel a CSV command column drives, by name: `action_j0`, `action.j0`, `cmd_j0`,
/// `command_j0` or `target_j0` drive `j0`.
fn command_target(command: &str, channels: &[String]) -> Option<String> {
    ["action_", "action.", "cmd_", "cmd.", "command_", "command.", "target_", "target."]
        .iter()
        .find_map(|p| command.strip_prefix(p))
        .and_then(|rest| channels.iter().find(|c| *c == rest).cloned())
}

/// An episode label made safe as a file name (`episodes/<name>.csv`).
fn safe_name(key: &str) -> String {
    let s: String =
        key.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    match s.as_str() {
        "" | "." | ".." => format!("episode_{}", s.replace('.', "_")),
        _ => s,
    }
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    let mut at = Location::file(path);
    if let Some(pos) = e.position() {
        at = at.line(pos.line());
    }
    Error::invalid(at, e.to_string())
}
