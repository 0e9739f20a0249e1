//! One episode CSV: a header `time,<channel>,…[,<command>,…][,phase]` (any column order), then
//! one frame per line. Everything a recording can get wrong is reported with file, line and
//! column.

use std::io::Write;
use std::path::Path;

use crate::data::dataset::{DatasetMeta, Episode};
use crate::error::{Error, Location, Result, list, parser_message, quote};

/// How lenient reading is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Drop a row that repeats the previous row exactly (same timestamp, same values), as real
    /// logs sometimes do, instead of rejecting it. The count is returned.
    pub drop_duplicate_frames: bool,
}

/// Reads `path`, whose columns must be exactly `time`, the channels and commands of `meta` (in
/// any order) and, when `meta` names phases, `phase`. Returns the episode and the number of duplicate
/// frames dropped (always 0 unless `options` allows dropping them).
///
/// This is the hot path of loading (10 M frames in a few seconds, see the `scale` example):
/// rows are read as byte records and numbers parsed straight from the bytes by lexical-core,
/// with no per-field `String`; storage is reserved from the file size.
pub fn read_episode(path: &Path, meta: &DatasetMeta, options: ReadOptions) -> Result<(Episode, usize)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if file_len == 0 {
        return Err(Error::invalid(Location::file(path), "no header line (the file is empty)"));
    }
    // Fields are trimmed by `parse_number`: the reader's own trimming copies every record, which
    // cost a third of the loading time (1.9 M frames/s with it in the `scale` example).
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::Headers)
        .buffer_capacity(1 << 16)
        .from_reader(file);
    let header = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    if header.len() <= 1 && header.get(0).is_none_or(str::is_empty) {
        return Err(Error::invalid(
            Location::file(path),
            "no header line (the file is empty or its first line is blank)",
        ));
    }
    let names: Vec<&str> = header.iter().collect();
    let channels = meta.channels();
    let commands = meta.command_names();
    let columns = map_columns(&header, meta, &channels, &commands, &Location::file(path).line(1))?;

    let dim = channels.len();
    let m = commands.len();
    let mut time = Vec::new();
    let mut states = Vec::new();
    let mut command_values = Vec::new();
    let mut command_row = vec![0f32; m];
    let mut phase = (!meta.phases.is_empty()).then(Vec::new);
    let mut record = csv::ByteRecord::new();
    let mut row = vec![0f32; dim];
    let mut dropped = 0;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(path, e)),
        }
        let (line, byte) = record.position().map_or((0, 0), |p| (p.line(), p.byte()));
        let at = || Location::file(path).line(line);
        if record.len() != header.len() {
            return Err(Error::invalid(
                at(),
                format!("ragged row: {} fields where the header has {}", record.len(), header.len()),
            ));
        }
        let mut t = f64::NAN;
        for (k, (field, target)) in record.iter().zip(&columns).enumerate() {
            let name = names[k];
            if let Column::Phase = target {
                let text = String::from_utf8_lossy(trim(field));
                let label = meta.phases.iter().position(|p| *p == text).ok_or_else(|| {
                    Error::invalid(
                        at().column(name),
                        format!("{} is not a phase of dataset.json ({})", quote(&text), list(&meta.phases)),
                    )
                })?;
                phase.as_mut().expect("phase column only when phases are named").push(label as u16);
                continue;
            }
            let value = parse_number(field).ok_or_else(|| {
                Error::invalid(
                    at().column(name),
                    format!("{} is not a number", quote(&String::from_utf8_lossy(trim(field)))),
                )
            })?;
            if !value.is_finite() {
                let text = String::from_utf8_lossy(trim(field));
                return Err(Error::invalid(at().column(name), format!("value {} is not finite", quote(&text))));
            }
            if !matches!(target, Column::Time) && value.abs() > f32::MAX as f64 {
                let text = String::from_utf8_lossy(trim(field));
                return Err(Error::invalid(
                    at().column(name),
                    format!("value {} does not fit a 32-bit float", quote(&text)),
                ));
            }
            match *target {
                Column::Time => t = value,
                Column::Channel(c) => row[c] = value as f32,
                Column::Command(c) => command_row[c] = value as f32,
                Column::Phase => unreachable!(),
            }
        }
        let repeats = time.last() == Some(&t)
            && states[states.len() - dim..] == row[..]
            && command_values[command_values.len() - m..] == command_row[..];
        if repeats && options.drop_duplicate_frames {
            dropped += 1;
            continue;
        }
        if let Some(&prev) = time.last().filter(|&&prev| t <= prev) {
            let what = if repeats { "the row repeats the previous frame; " } else { "" };
            return Err(Error::invalid(
                at().column("time"),
                format!("timestamps must increase: {what}{t} follows {prev}"),
            ));
        }
        time.push(t);
        states.extend_from_slice(&row);
        command_values.extend_from_slice(&command_row);
        if time.len() == RESERVE_AFTER {
            // Bytes per row so far give the rows to come: reserve them once instead of letting
            // the vectors double (which would leave up to half their memory unused).
            let per_row = (byte as f64 / RESERVE_AFTER as f64).max(1.0);
            let rows = ((file_len as f64 / per_row) * 1.02) as usize + RESERVE_AFTER;
            time.reserve(rows.saturating_sub(time.len()));
            states.reserve(rows.saturating_sub(time.len()) * dim);
            command_values.reserve(rows.saturating_sub(time.len()) * m);
        }
    }
    if time.is_empty() {
        return Err(Error::invalid(Location::file(path), "empty episode: the file has a header but no frame"));
    }
    time.shrink_to_fit();
    states.shrink_to_fit();
    command_values.shrink_to_fit();
    let name = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut episode = Episode::new(name, path, time, states, dim);
    episode.phase = phase;
    if m > 0 {
        episode.commands = Some(command_values);
    }
    Ok((episode, dropped))
}

/// Reads a command plan: a CSV of `time` and every command channel of `meta` (any order), one row
/// per frame, with the same checks as an episode file. Returns row-major `[rows, command_dim]`.
/// Values are in the units of the loaded data (radians for commands that drive joints).
pub fn read_commands(path: &Path, meta: &DatasetMeta) -> Result<Vec<f32>> {
    if meta.commands.is_empty() {
        return Err(Error::invalid(Location::file(path), "the data declares no command channels to plan"));
    }
    let mut plan_meta = DatasetMeta::new(&meta.name, &meta.robot, meta.rate_hz, vec![], vec![]);
    plan_meta.commands = meta.commands.clone();
    let (episode, _) = read_episode(path, &plan_meta, ReadOptions::default())?;
    Ok(episode.commands.unwrap_or_default())
}

/// Rows read before storage for the rest of the file is reserved.
const RESERVE_AFTER: usize = 64;

/// A decimal number from a CSV field (surrounding spaces allowed). lexical-core parses the
/// common forms straight from the bytes; anything it refuses goes through `str::parse`, so the
/// accepted syntax (and `NaN`/`inf`, which are then reported as not finite) stays Rust's.
/// Measured with the `scale` example (1 M frames, dev profile, 2 threads): 2.4–2.7 M frames/s
/// with `str::parse` alone, 3.0 M with lexical-core first.
pub(crate) fn parse_number(field: &[u8]) -> Option<f64> {
    let field = trim(field);
    lexical_core::parse::<f64>(field).ok().or_else(|| std::str::from_utf8(field).ok()?.parse().ok())
}

/// `field` without surrounding ASCII whitespace.
fn trim(field: &[u8]) -> &[u8] {
    field.trim_ascii()
}

/// Writes an episode in the format [`read_episode`] reads. Values are written in their
/// shortest exact form, so a round trip returns the same numbers.
pub fn write_episode(out: &mut impl Write, episode: &Episode, meta: &DatasetMeta) -> std::io::Result<()> {
    let channels = meta.channels();
    write!(out, "time")?;
    for c in channels.iter().chain(&meta.command_names()) {
        write!(out, ",{c}")?;
    }
    if episode.phase.is_some() {
        write!(out, ",phase")?;
    }
    writeln!(out)?;
    for (i, t) in episode.time.iter().enumerate() {
        write!(out, "{t}")?;
        for v in episode.frame(i).iter().chain(episode.command(i)) {
            write!(out, ",{v}")?;
        }
        if let Some(phase) = &episode.phase {
            write!(out, ",{}", meta.phases[phase[i] as usize])?;
        }
        writeln!(out)?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Column {
    Time,
    Channel(usize),
    Command(usize),
    Phase,
}

/// Maps each header column to `time`, a channel or command index or `phase`, rejecting missing,
/// extra and duplicate columns.
fn map_columns(
    header: &csv::StringRecord,
    meta: &DatasetMeta,
    channels: &[String],
    commands: &[String],
    at: &Location,
) -> Result<Vec<Column>> {
    let mut columns = Vec::with_capacity(header.len());
    let mut seen = std::collections::HashSet::new();
    let has_phases = !meta.phases.is_empty();
    for name in header.iter() {
        if !seen.insert(name) {
            return Err(Error::invalid(at.clone().column(name), "duplicate column"));
        }
        let column = if name == "time" {
            Column::Time
        } else if name == "phase" && has_phases {
            Column::Phase
        } else if let Some(i) = channels.iter().position(|c| c == name) {
            Column::Channel(i)
        } else if let Some(i) = commands.iter().position(|c| c == name) {
            Column::Command(i)
        } else {
            let known: Vec<&String> = channels.iter().chain(commands).collect();
            return Err(Error::invalid(
                at.clone().column(name),
                format!("extra column: not `time` and not a channel or command of dataset.json ({})", list(&known)),
            ));
        };
        columns.push(column);
    }
    let required = std::iter::once("time")
        .chain(channels.iter().map(String::as_str))
        .chain(commands.iter().map(String::as_str))
        .chain(has_phases.then_some("phase"));
    let missing: Vec<&str> = required.filter(|c| !seen.contains(c)).collect();
    if !missing.is_empty() {
        return Err(Error::invalid(at.clone().column(missing[0]), format!("missing column(s): {}", list(&missing))));
    }
    Ok(columns)
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    let mut at = Location::file(path);
    if let Some(pos) = e.position() {
        at = at.line(pos.line());
    }
    Error::invalid(at, parser_message(e))
}
