//! The columns of a LeRobot parquet file, checked for types, nulls and widths (errors name the
//! file, the row and the column).

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};

use super::Files;
use super::meta::INFO;
use crate::data::import::widen;
use crate::error::{Error, Location, Result};

/// The columns of one data file that the import needs, row-major state.
pub(super) struct Table {
    pub(super) state: Vec<f32>,
    pub(super) width: usize,
    pub(super) time: Vec<f64>,
    pub(super) frame_index: Vec<i64>,
    pub(super) episode_index: Vec<i64>,
    /// v3: the global row index.
    pub(super) index: Vec<i64>,
    /// The commands, row-major, and their width (0 without a command column).
    pub(super) action: Vec<f32>,
    pub(super) action_width: usize,
}

pub(super) fn read_table(
    files: &dyn Files,
    file: &str,
    state_key: &str,
    action_key: Option<&str>,
    with_index: bool,
) -> Result<Table> {
    let path = files.path(file);
    let mut wanted = vec![state_key, "timestamp", "frame_index", "episode_index"];
    if with_index {
        wanted.push("index");
    }
    if let Some(key) = action_key {
        wanted.push(key);
    }
    let batches = read_batches(files, file, &wanted)?;
    let mut t = Table {
        state: vec![],
        width: 0,
        time: vec![],
        frame_index: vec![],
        episode_index: vec![],
        index: vec![],
        action: vec![],
        action_width: 0,
    };
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
        if let Some(key) = action_key {
            let (values, width) = state_values(batch.column(wanted.len() - 1), &path, key, row)?;
            if row > 0 && width != t.action_width {
                return Err(Error::invalid(
                    Location::file(&path).row(row).column(key),
                    format!("{width} entries where earlier rows have {}", t.action_width),
                ));
            }
            t.action_width = width;
            t.action.extend(values);
        }
        row += batch.num_rows() as u64;
    }
    Ok(t)
}

/// Reads the named top-level columns of a parquet file (in `names` order in each batch); a
/// panic inside parquet becomes an error for the file (see `guard.rs`).
pub(super) fn read_batches(files: &dyn Files, file: &str, names: &[&str]) -> Result<Vec<RecordBatch>> {
    let path = files.path(file);
    let read = || Ok::<_, std::convert::Infallible>(read_batches_unguarded(files, file, names));
    match crate::data::import::guard::guard(crate::data::import::guard::Library::Parquet, read) {
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
    let file_bytes = bytes.clone(); // a reference-counted handle, not a copy
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, options).map_err(|e| not_parquet(&e))?;
    // Column chunks must lie inside the file: parquet asserts (panics) on a negative offset.
    for (g, group) in builder.metadata().row_groups().iter().enumerate() {
        for column in group.columns() {
            let start = column.dictionary_page_offset().unwrap_or(column.data_page_offset());
            let len = column.compressed_size();
            let at = || Location::file(&path).group(format!("row group {g}")).column(column.column_path().string());
            if start < 0 || len < 0 || start.saturating_add(len) > file_len {
                return Err(Error::invalid(
                    at(),
                    format!("not a readable parquet file: column chunk at {start}, {len} bytes, outside the file"),
                ));
            }
            super::pages::check_pages(&file_bytes, start as usize, len as usize)
                .map_err(|m| Error::invalid(at(), format!("not a readable parquet file: {m}")))?;
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

pub(super) fn integers(a: &ArrayRef, path: &Path, column: &str, first_row: u64) -> Result<Vec<i64>> {
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
