//! Reads one episode CSV: a header `time,<channel>,...` (any column order), then one frame per
//! line. Everything a recording can get wrong is reported with file, line and column.

use std::path::Path;

use crate::data::dataset::Episode;
use crate::error::{Error, Location, Result};

/// Reads `path`, whose columns must be exactly `time` plus `channels` (in any order).
pub fn read_episode(path: &Path, channels: &[String]) -> Result<Episode> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(file);
    let header_at = Location::file(path).line(1);
    let header = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    let columns = map_columns(&header, channels, &header_at)?;

    let dim = channels.len();
    let mut time = Vec::new();
    let mut states = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut row = vec![0f32; dim];
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(path, e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        let at = || Location::file(path).line(line);
        if record.len() != header.len() {
            return Err(Error::invalid(
                at(),
                format!("ragged row: {} fields where the header has {}", record.len(), header.len()),
            ));
        }
        let mut t = f64::NAN;
        for ((field, name), target) in record.iter().zip(header.iter()).zip(&columns) {
            let value: f64 =
                field.parse().map_err(|_| Error::invalid(at().column(name), format!("\"{field}\" is not a number")))?;
            if !value.is_finite() {
                return Err(Error::invalid(at().column(name), format!("value {field} is not finite")));
            }
            match *target {
                Column::Time => t = value,
                Column::Channel(c) => row[c] = value as f32,
            }
        }
        if let Some(&prev) = time.last().filter(|&&prev| t <= prev) {
            return Err(Error::invalid(at().column("time"), format!("timestamps must increase: {t} follows {prev}")));
        }
        time.push(t);
        states.extend_from_slice(&row);
    }
    if time.is_empty() {
        return Err(Error::invalid(Location::file(path), "empty episode: the file has a header but no frame"));
    }
    Ok(Episode { source: path.to_path_buf(), time, states, dim })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Column {
    Time,
    Channel(usize),
}

/// Maps each header column to `time` or a channel index, rejecting missing, extra and
/// duplicate columns.
fn map_columns(header: &csv::StringRecord, channels: &[String], at: &Location) -> Result<Vec<Column>> {
    let mut columns = Vec::with_capacity(header.len());
    let mut seen = std::collections::HashSet::new();
    for name in header.iter() {
        if !seen.insert(name) {
            return Err(Error::invalid(at.clone().column(name), "duplicate column"));
        }
        let column = if name == "time" {
            Column::Time
        } else if let Some(i) = channels.iter().position(|c| c == name) {
            Column::Channel(i)
        } else {
            return Err(Error::invalid(
                at.clone().column(name),
                format!("extra column: not `time` and not a channel of dataset.json ({})", channels.join(", ")),
            ));
        };
        columns.push(column);
    }
    let missing: Vec<&str> =
        std::iter::once("time").chain(channels.iter().map(String::as_str)).filter(|c| !seen.contains(c)).collect();
    if !missing.is_empty() {
        return Err(Error::invalid(
            at.clone().column(missing[0]),
            format!("missing column(s): {}", missing.join(", ")),
        ));
    }
    Ok(columns)
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    let mut at = Location::file(path);
    if let Some(pos) = e.position() {
        at = at.line(pos.line());
    }
    Error::invalid(at, e.to_string())
}
