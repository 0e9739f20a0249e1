//! PNG charts for the experiments: a grid of panels of line or point series, drawn by plotters
//! into a pixel buffer with an embedded font (no system font libraries) and encoded by `png`.
//! Log axes are drawn as log10 of the values with 10^k tick labels, so every panel has one
//! coordinate type; points that cannot be drawn (non-finite, or ≤ 0 on a log axis) are left out.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::{Error, Result};

/// DejaVu Sans (licence in `assets/fonts/LICENSE`).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Distinguishable colours (Tableau 10).
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Points joined by a line, no markers.
    Line,
    /// A line with a marker at every point.
    LinePoints,
    /// Markers only (a scatter plot).
    Points,
    /// A reference line (e.g. a boundary), drawn plainly without markers.
    Reference,
}

/// One series of `(x, y)` points in a panel.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    /// Legend entry (empty: the series is not in the legend).
    pub(crate) label: String,
    /// `(x, y)` in data units; points that cannot be drawn are left out.
    pub(crate) points: Vec<(f64, f64)>,
    /// Line, markers or both.
    pub(crate) style: Style,
    /// Index into [`PALETTE`] (wraps).
    pub(crate) color: usize,
}

impl Series {
    /// A series drawn in `style` with colour `color` of [`PALETTE`].
    pub(crate) fn new(label: impl Into<String>, points: Vec<(f64, f64)>, style: Style, color: usize) -> Self {
        Self { label: label.into(), points, style, color }
    }
}

/// One axis of a panel: its label, scale and range.
#[derive(Debug, Clone, Default)]
pub(crate) struct Axis {
    /// Axis title.
    pub(crate) label: String,
    /// Log scale: log10 of the values, labelled 10^k (values ≤ 0 are left out).
    pub(crate) log: bool,
    /// Fixed range (in data units); otherwise fitted to the data.
    pub(crate) range: Option<(f64, f64)>,
}

impl Axis {
    /// A linear axis titled `label`, its range fitted to the data.
    pub(crate) fn linear(label: &str) -> Self {
        Self { label: label.into(), log: false, range: None }
    }
    /// A log axis titled `label`, its range fitted to the data.
    pub(crate) fn log(label: &str) -> Self {
        Self { label: label.into(), log: true, range: None }
    }
    /// The axis with its range fixed to `lo..hi` (data units, also on a log axis).
    pub(crate) fn with_range(mut self, lo: f64, hi: f64) -> Self {
        self.range = Some((lo, hi));
        self
    }
    fn map(&self, v: f64) -> Option<f64> {
        let v = if self.log { (v > 0.0).then(|| v.log10())? } else { v };
        v.is_finite().then_some(v)
    }
}

/// One chart of the grid [`save`] draws.
#[derive(Debug, Clone)]
pub(crate) struct Panel {
    /// Caption above the chart.
    pub(crate) title: String,
    /// Horizontal axis.
    pub(crate) x: Axis,
    /// Vertical axis.
    pub(crate) y: Axis,
    /// What is drawn, in order (later series on top).
    pub(crate) series: Vec<Series>,
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The font is embedded and known to parse (the plot test draws text with it).
            let _ = plotters::style::register_font("sans-serif", style, FONT);
        }
    });
}

fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::Viz(format!("plot: {e}"))
}

/// Draws `panels` in a grid of `columns` under `title` and writes the PNG to `path`
/// (atomically).
pub(crate) fn save(path: &Path, title: &str, panels: &[Panel], columns: usize) -> Result<()> {
    register_font();
    let columns = columns.clamp(1, panels.len().max(1));
    let rows = panels.len().div_ceil(columns).max(1);
    // At least 900 px wide so that a one-panel figure's title fits.
    let (w, h) = ((560 * columns as u32).max(900), 420 * rows as u32 + 40);
    let mut buffer = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let root = root.titled(title, ("sans-serif", 24)).map_err(plot_error)?;
        for (area, panel) in root.split_evenly((rows, columns)).iter().zip(panels) {
            draw_panel(area, panel)?;
        }
        root.present().map_err(plot_error)?;
    }
    crate::io::write_atomic(path, |f| {
        let mut encoder = png::Encoder::new(f, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
        writer.write_image_data(&buffer).map_err(std::io::Error::other)?;
        writer.finish().map_err(std::io::Error::other)
    })
}

/// A tick label with about three significant digits.
fn short(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-2..1e4).contains(&a) {
        let s = format!("{v:.1e}");
        s.replace(".0e", "e")
    } else {
        let digits = (2 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
    }
}

fn bounds(values: impl Iterator<Item = f64>, fixed: Option<(f64, f64)>, axis: &Axis) -> (f64, f64) {
    if let Some((lo, hi)) = fixed {
        let (a, b) = (axis.map(lo).unwrap_or(0.0), axis.map(hi).unwrap_or(1.0));
        return (a, b);
    }
    let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        lo -= 0.5;
        hi += 0.5;
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

fn draw_panel(area: &DrawingArea<BitMapBackend, plotters::coord::Shift>, p: &Panel) -> Result<()> {
    let mapped: Vec<Vec<(f64, f64)>> = p
        .series
        .iter()
        .map(|s| s.points.iter().filter_map(|&(x, y)| Some((p.x.map(x)?, p.y.map(y)?))).collect())
        .collect();
    let (x0, x1) = bounds(mapped.iter().flatten().map(|q| q.0), p.x.range, &p.x);
    let (y0, y1) = bounds(mapped.iter().flatten().map(|q| q.1), p.y.range, &p.y);
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(38)
        .y_label_area_size(62)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_error)?;
    let tick = |log: bool| move |v: &f64| if log { short(10f64.powf(*v)) } else { short(*v) };
    let (fx, fy) = (tick(p.x.log), tick(p.y.log));
    chart
        .configure_mesh()
        .x_desc(p.x.label.as_str())
        .y_desc(p.y.label.as_str())
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .label_style(("sans-serif", 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(plot_error)?;
    for (s, points) in p.series.iter().zip(mapped) {
        let color = PALETTE[s.color % PALETTE.len()];
        let drawn = match s.style {
            Style::Points => chart
                .draw_series(points.iter().map(|&q| Circle::new(q, 3, color.mix(0.7).filled())))
                .map_err(plot_error)?,
            Style::Reference => {
                chart.draw_series(LineSeries::new(points, color.stroke_width(2))).map_err(plot_error)?
            }
            Style::Line | Style::LinePoints => {
                let with_points = s.style == Style::LinePoints;
                let markers = if with_points { points.clone() } else { vec![] };
                chart.draw_series(LineSeries::new(points, color.stroke_width(2))).map_err(plot_error)?;
                chart.draw_series(markers.into_iter().map(|q| Circle::new(q, 3, color.filled()))).map_err(plot_error)?
            }
        };
        if !s.label.is_empty() {
            drawn
                .label(s.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3)));
        }
    }
    if p.series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 12))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(plot_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png_with_log_and_linear_panels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.png");
        let panels = vec![
            Panel {
                title: "log".into(),
                x: Axis::linear("t"),
                y: Axis::log("norm"),
                series: vec![Series::new("a", vec![(1.0, 1e-3), (2.0, 0.0), (3.0, 10.0)], Style::LinePoints, 0)],
            },
            Panel {
                title: "lin".into(),
                x: Axis::linear("x"),
                y: Axis::linear("y").with_range(0.0, 1.0),
                series: vec![Series::new("", vec![(0.0, f64::NAN), (1.0, 0.5)], Style::Points, 1)],
            },
        ];
        save(&path, "test", &panels, 2).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let info = decoder.read_info().unwrap();
        assert_eq!((info.info().width, info.info().height), (1120, 460));
    }
}
