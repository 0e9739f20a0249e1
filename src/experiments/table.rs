//! Plain-text tables for the experiments' reports: a header, right-aligned columns.

use std::fmt;

/// A text table: a header row and rows of cells, the first column left-aligned, the others
/// right-aligned (printed by `Display`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column titles.
    pub(crate) fn new(header: &[&str]) -> Self {
        Self { header: header.iter().map(|s| s.to_string()).collect(), rows: vec![] }
    }

    /// Appends a row (missing cells print empty, extra ones are not printed).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cols = self.header.len();
        let width: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                    .chain([self.header[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |f: &mut fmt::Formatter<'_>, cells: &[String]| {
            let text: Vec<String> = (0..cols)
                .map(|c| {
                    let s = cells.get(c).map(String::as_str).unwrap_or("");
                    if c == 0 { format!("{s:<w$}", w = width[c]) } else { format!("{s:>w$}", w = width[c]) }
                })
                .collect();
            writeln!(f, "{}", text.join("  ").trim_end())
        };
        line(f, &self.header)?;
        writeln!(f, "{}", "-".repeat(width.iter().sum::<usize>() + 2 * cols.saturating_sub(1)))?;
        for r in &self.rows {
            line(f, r)?;
        }
        Ok(())
    }
}

/// A number in a short, readable form (scientific for very small or large magnitudes).
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) { format!("{v:.2e}") } else { format!("{v:.4}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align() {
        let mut t = Table::new(&["cell", "value"]);
        t.row(vec!["rnn".into(), num(0.5)]);
        t.row(vec!["lstm".into(), num(1.5e-7)]);
        assert_eq!(t.to_string(), "cell    value\n-------------\nrnn    0.5000\nlstm  1.50e-7\n");
    }
}
