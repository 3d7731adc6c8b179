//! Plots with plotters and a bundled font (no fontconfig/freetype needed on the host).
//!
//! [`xy_plot`] draws lines and/or points of several series into a PNG or SVG chosen by the file
//! extension. Call sites describe *what* to draw with [`Figure`] and [`Series`]; this module owns
//! the styling so that every physlearn figure looks the same.

use super::IoError;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Register the bundled DejaVu Sans as plotters' "sans-serif" family (idempotent).
pub fn register_font() {
    REGISTER.call_once(|| {
        // The font is embedded at compile time and known valid; a failure here would only
        // degrade text rendering, so it is ignored rather than propagated.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, FONT);
    });
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mark {
    Line,
    Points,
    LinePoints,
    /// Dashed reference line (e.g. y = x); drawn thin and black.
    Reference,
    /// Filled band between [`Series::lower`] and `y` (stacked areas).
    Area,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub mark: Mark,
    /// Lower edge of a [`Mark::Area`] band (empty: 0).
    pub lower: Vec<f64>,
}

impl Series {
    pub fn line(label: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Self {
        Series {
            label: label.into(),
            x,
            y,
            mark: Mark::Line,
            lower: Vec::new(),
        }
    }
    pub fn points(label: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Self {
        Series {
            label: label.into(),
            x,
            y,
            mark: Mark::Points,
            lower: Vec::new(),
        }
    }
    /// A filled band from `lower` to `upper` (one layer of a stacked area).
    pub fn area(label: impl Into<String>, x: Vec<f64>, lower: Vec<f64>, upper: Vec<f64>) -> Self {
        Series {
            label: label.into(),
            x,
            y: upper,
            mark: Mark::Area,
            lower,
        }
    }
    /// Stacked areas: layer i fills from the sum of layers 0..i to the sum of 0..=i.
    pub fn stacked(x: &[f64], layers: &[(String, Vec<f64>)]) -> Vec<Series> {
        let mut base = vec![0.0; x.len()];
        let mut out = Vec::new();
        for (label, v) in layers {
            let top: Vec<f64> = base
                .iter()
                .zip(v)
                .map(|(b, y)| b + if y.is_finite() { *y } else { 0.0 })
                .collect();
            out.push(Series::area(
                label.clone(),
                x.to_vec(),
                base.clone(),
                top.clone(),
            ));
            base = top;
        }
        out
    }
    pub fn with_mark(mut self, mark: Mark) -> Self {
        self.mark = mark;
        self
    }
}

/// One panel.
#[derive(Debug, Clone, Default)]
pub struct Figure {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    pub series: Vec<Series>,
}

impl Figure {
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Figure {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..Default::default()
        }
    }
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }
    pub fn log_x(mut self) -> Self {
        self.log_x = true;
        self
    }
    #[allow(clippy::should_implement_trait)] // builder method, not arithmetic
    pub fn add(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Colour `i` of the shared palette.
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn finite_range(vals: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in vals {
        if v.is_finite() && (!log || v > 0.0) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !lo.is_finite() {
        return if log { (0.1, 1.0) } else { (0.0, 1.0) };
    }
    if log {
        if hi <= lo {
            return (lo / 2.0, hi * 2.0);
        }
        let f = (hi / lo).powf(0.04);
        (lo / f, hi * f)
    } else {
        if hi <= lo {
            let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
            return (lo - d, hi + d);
        }
        let pad = 0.04 * (hi - lo);
        (lo - pad, hi + pad)
    }
}

/// Axis tick text with at most four significant digits and no floating-point noise
/// (`1e-9` rather than `1e-8.99999`, `0.3` rather than `0.30000000000000004`).
pub fn tick_label(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.3e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = mant.trim_end_matches('0').trim_end_matches('.');
        return format!("{mant}e{exp}");
    }
    let digits = (3 - a.log10().floor() as i32).clamp(0, 8) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Draw into a staging file beside `path` (same extension, so the backend picks the same
/// format) and rename it into place: a killed run never leaves a truncated image under the
/// user's name.
pub fn staged_plot(
    path: &Path,
    draw: impl FnOnce(&Path) -> Result<(), IoError>,
) -> Result<(), IoError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{}.tmp-{name}", std::process::id()));
    let res =
        draw(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(|e| IoError::fs(path, e)));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Tick text on a linear axis spanning `span`: the value is rounded to 1e-4 of the span first,
/// so a tick at zero that the axis arithmetic left at `1.7e-18` prints as `0`.
pub fn axis_tick_label(v: f64, span: f64) -> String {
    if !(span.is_finite() && span > 0.0 && v.is_finite()) {
        return tick_label(v);
    }
    let q = 10f64.powi(span.log10().floor() as i32 - 4);
    let r = (v / q).round() * q;
    if r == 0.0 {
        "0".into()
    } else {
        tick_label(r)
    }
}

/// Draw several panels side by side (or one) into `path` (`.png` or `.svg`).
pub fn xy_plot(path: &Path, figures: &[Figure]) -> Result<(), IoError> {
    staged_plot(path, |p| xy_plot_direct(p, figures))
}

fn xy_plot_direct(path: &Path, figures: &[Figure]) -> Result<(), IoError> {
    register_font();
    let w = 720 * figures.len().max(1) as u32;
    let h = 480;
    let is_svg = path
        .extension()
        .map(|e| e.eq_ignore_ascii_case("svg"))
        .unwrap_or(false);
    let res = if is_svg {
        let root = SVGBackend::new(path, (w, h)).into_drawing_area();
        draw_panels(&root, figures)
    } else {
        let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
        draw_panels(&root, figures)
    };
    res.map_err(|message| IoError::Plot {
        path: path.to_path_buf(),
        message,
    })
}

fn draw_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    figures: &[Figure],
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((1, figures.len().max(1)));
    for (fig, area) in figures.iter().zip(panels.iter()) {
        draw_one(area, fig)?;
    }
    root.present().map_err(|e| e.to_string())
}

fn draw_one<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, fig: &Figure) -> Result<(), String> {
    let (x0, x1) = finite_range(
        fig.series.iter().flat_map(|s| s.x.iter().copied()),
        fig.log_x,
    );
    let (y0, y1) = finite_range(
        fig.series
            .iter()
            .flat_map(|s| s.y.iter().chain(s.lower.iter()).copied()),
        fig.log_y,
    );
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&fig.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(70);
    macro_rules! body {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(fig.x_label.as_str())
                .y_desc(fig.y_label.as_str())
                .label_style(("sans-serif", 13))
                .x_label_formatter(&|v| {
                    if fig.log_x {
                        tick_label(*v)
                    } else {
                        axis_tick_label(*v, x1 - x0)
                    }
                })
                .y_label_formatter(&|v| {
                    if fig.log_y {
                        tick_label(*v)
                    } else {
                        axis_tick_label(*v, y1 - y0)
                    }
                })
                .light_line_style(RGBColor(235, 235, 235))
                .draw()
                .map_err(|e| e.to_string())?;
            let ok = |p: &(f64, f64)| {
                p.0.is_finite()
                    && p.1.is_finite()
                    && (!fig.log_x || p.0 > 0.0)
                    && (!fig.log_y || p.1 > 0.0)
            };
            let mut legend = false;
            for (i, s) in fig.series.iter().enumerate() {
                let c = color(i);
                let pts: Vec<(f64, f64)> =
                    s.x.iter()
                        .copied()
                        .zip(s.y.iter().copied())
                        .filter(|p| ok(p))
                        .collect();
                let labelled = !s.label.is_empty();
                legend |= labelled;
                match s.mark {
                    Mark::Area => {
                        let fill = c.mix(0.75);
                        let upper: Vec<(f64, f64)> =
                            s.x.iter().copied().zip(s.y.iter().copied()).collect();
                        let lower: Vec<(f64, f64)> =
                            s.x.iter()
                                .enumerate()
                                .map(|(i, x)| (*x, s.lower.get(i).copied().unwrap_or(0.0)))
                                .collect();
                        let mut poly = upper.clone();
                        poly.extend(lower.iter().rev().copied());
                        poly.retain(|p| ok(p));
                        let anno = chart
                            .draw_series(std::iter::once(Polygon::new(poly, fill.filled())))
                            .map_err(|e| e.to_string())?;
                        if labelled {
                            anno.label(s.label.as_str()).legend(move |(x, y)| {
                                Rectangle::new([(x, y - 5), (x + 18, y + 5)], fill.filled())
                            });
                        }
                        chart
                            .draw_series(LineSeries::new(
                                upper.into_iter().filter(|p| ok(p)),
                                c.stroke_width(1),
                            ))
                            .map_err(|e| e.to_string())?;
                    }
                    Mark::Line | Mark::LinePoints => {
                        let anno = chart
                            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                            .map_err(|e| e.to_string())?;
                        if labelled {
                            anno.label(s.label.as_str()).legend(move |(x, y)| {
                                PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                            });
                        }
                        if s.mark == Mark::LinePoints {
                            chart
                                .draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))
                                .map_err(|e| e.to_string())?;
                        }
                    }
                    Mark::Points => {
                        let anno = chart
                            .draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))
                            .map_err(|e| e.to_string())?;
                        if labelled {
                            anno.label(s.label.as_str())
                                .legend(move |(x, y)| Circle::new((x + 9, y), 3, c.filled()));
                        }
                    }
                    Mark::Reference => {
                        let anno = chart
                            .draw_series(DashedLineSeries::new(
                                pts.clone(),
                                6,
                                4,
                                BLACK.stroke_width(1),
                            ))
                            .map_err(|e| e.to_string())?;
                        if labelled {
                            anno.label(s.label.as_str()).legend(|(x, y)| {
                                PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(1))
                            });
                        }
                    }
                }
            }
            if legend {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(RGBColor(180, 180, 180))
                    .label_font(("sans-serif", 13))
                    .position(SeriesLabelPosition::UpperRight)
                    .draw()
                    .map_err(|e| e.to_string())?;
            }
        }};
    }
    match (fig.log_x, fig.log_y) {
        (false, false) => body!(builder
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?),
        (false, true) => body!(builder
            .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
            .map_err(|e| e.to_string())?),
        (true, false) => body!(builder
            .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
            .map_err(|e| e.to_string())?),
        (true, true) => body!(builder
            .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
            .map_err(|e| e.to_string())?),
    }
    Ok(())
}

/// Draw a network twice (e.g. before/after learning) with edge widths proportional to the
/// weights: `edges` are node index pairs into `pos`; `highlight` nodes (sources, outputs) are
/// drawn as labelled dots.
pub fn network_plot(
    path: &Path,
    pos: &[[f64; 2]],
    edges: &[(usize, usize)],
    panels: &[(&str, &[f64])],
    highlight: &[(usize, &str)],
) -> Result<(), IoError> {
    staged_plot(path, |p| {
        network_plot_direct(p, pos, edges, panels, highlight)
    })
}

fn network_plot_direct(
    path: &Path,
    pos: &[[f64; 2]],
    edges: &[(usize, usize)],
    panels: &[(&str, &[f64])],
    highlight: &[(usize, &str)],
) -> Result<(), IoError> {
    register_font();
    let w = 560 * panels.len().max(1) as u32;
    let h = 560;
    let err = |e: String| IoError::Plot {
        path: path.to_path_buf(),
        message: e,
    };
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    let (x0, x1) = finite_range(pos.iter().map(|p| p[0]), false);
    let (y0, y1) = finite_range(pos.iter().map(|p| p[1]), false);
    let wmax = panels
        .iter()
        .flat_map(|p| p.1.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-300);
    for ((title, weights), area) in panels.iter().zip(areas.iter()) {
        let mut chart = ChartBuilder::on(area)
            .caption(*title, ("sans-serif", 18))
            .margin(15)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| err(e.to_string()))?;
        for (k, &(i, j)) in edges.iter().enumerate() {
            let wk = weights.get(k).copied().unwrap_or(0.0).max(0.0);
            let width = (1.0 + 9.0 * wk / wmax).round() as u32;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(pos[i][0], pos[i][1]), (pos[j][0], pos[j][1])],
                    RGBColor(60, 90, 160).stroke_width(width),
                )))
                .map_err(|e| err(e.to_string()))?;
        }
        for (k, (n, label)) in highlight.iter().enumerate() {
            let c = color(k + 1);
            let p = (pos[*n][0], pos[*n][1]);
            chart
                .draw_series(std::iter::once(Circle::new(p, 6, c.filled())))
                .map_err(|e| err(e.to_string()))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    label.to_string(),
                    p,
                    ("sans-serif", 14).into_font().color(&BLACK),
                )))
                .map_err(|e| err(e.to_string()))?;
        }
    }
    root.present().map_err(|e| err(e.to_string()))
}

/// Diverging colour for `t ∈ [−1, 1]`: blue (−1) through light grey (0) to red (+1).
pub fn diverging(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let mid = (215.0, 215.0, 215.0);
    let end = if t < 0.0 {
        (33.0, 102.0, 172.0)
    } else {
        (178.0, 24.0, 43.0)
    };
    let a = t.abs();
    let mix = |m: f64, e: f64| (m + (e - m) * a).round() as u8;
    RGBColor(mix(mid.0, end.0), mix(mid.1, end.1), mix(mid.2, end.2))
}

/// Place text boxes near anchor points without overlaps (greedy over eight offsets, pixel
/// coordinates; box size estimated from the character count at `font_px`). Returns the
/// top-left corner of each label.
pub fn place_labels(
    anchors: &[(i32, i32)],
    texts: &[String],
    font_px: i32,
    bounds: (i32, i32),
) -> Vec<(i32, i32)> {
    let mut boxes: Vec<(i32, i32, i32, i32)> = Vec::new();
    let mut out = Vec::new();
    for (&(x, y), t) in anchors.iter().zip(texts) {
        let w = (t.chars().count() as i32 * font_px * 3) / 5 + 4;
        let h = font_px + 2;
        let cands = [
            (8, -h - 4),
            (8, 4),
            (-w - 8, -h - 4),
            (-w - 8, 4),
            (-w / 2, -h - 10),
            (-w / 2, 10),
            (12, -h / 2),
            (-w - 12, -h / 2),
        ];
        let fits =
            |bx: i32, by: i32| bx >= 0 && by >= 0 && bx + w <= bounds.0 && by + h <= bounds.1;
        let free = |bx: i32, by: i32| {
            boxes.iter().all(|&(ox, oy, ow, oh)| {
                bx + w <= ox || ox + ow <= bx || by + h <= oy || oy + oh <= by
            })
        };
        let pick = cands
            .iter()
            .map(|&(dx, dy)| (x + dx, y + dy))
            .find(|&(bx, by)| fits(bx, by) && free(bx, by))
            .or_else(|| {
                cands
                    .iter()
                    .map(|&(dx, dy)| (x + dx, y + dy))
                    .find(|&(bx, by)| fits(bx, by))
            })
            .unwrap_or((x + 8, y + 4));
        boxes.push((pick.0, pick.1, w, h));
        out.push(pick);
    }
    out
}

/// The network with every element coloured by its learned change `delta` (diverging map
/// centred on 0, colour bar on the right) and drawn with a width proportional to its final
/// weight `weights`; `highlight` nodes (sources, outputs) are labelled dots, labels of one node
/// merged and placed without overlaps.
/// Written through a staging file ([`staged_plot`]).
#[allow(clippy::too_many_arguments)]
pub fn network_delta_plot(
    path: &Path,
    title: &str,
    pos: &[[f64; 2]],
    edges: &[(usize, usize)],
    weights: &[f64],
    delta: &[f64],
    delta_label: &str,
    highlight: &[(usize, &str)],
) -> Result<(), IoError> {
    staged_plot(path, |p| {
        network_delta_plot_direct(p, title, pos, edges, weights, delta, delta_label, highlight)
    })
}

#[allow(clippy::too_many_arguments)]
fn network_delta_plot_direct(
    path: &Path,
    title: &str,
    pos: &[[f64; 2]],
    edges: &[(usize, usize)],
    weights: &[f64],
    delta: &[f64],
    delta_label: &str,
    highlight: &[(usize, &str)],
) -> Result<(), IoError> {
    register_font();
    let (w, h) = (820u32, 680u32);
    let err = |e: String| IoError::Plot {
        path: path.to_path_buf(),
        message: e,
    };
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let (left, right) = root.split_horizontally(680);
    let (x0, x1) = finite_range(pos.iter().map(|p| p[0]), false);
    let (y0, y1) = finite_range(pos.iter().map(|p| p[1]), false);
    let wmax = weights
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-300);
    let dmax = delta
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |a, v| a.max(v.abs()));
    let mut chart = ChartBuilder::on(&left)
        .caption(title, ("sans-serif", 18))
        .margin(20)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| err(e.to_string()))?;
    // Unchanged elements first, the largest changes on top.
    let mut order: Vec<usize> = (0..edges.len()).collect();
    order.sort_by(|&a, &b| {
        let da = delta.get(a).copied().unwrap_or(0.0).abs();
        let db = delta.get(b).copied().unwrap_or(0.0).abs();
        da.total_cmp(&db)
    });
    for k in order {
        let (i, j) = edges[k];
        let wk = weights.get(k).copied().unwrap_or(0.0).max(0.0);
        let width = (1.0 + 8.0 * wk / wmax).round() as u32;
        let d = delta.get(k).copied().unwrap_or(0.0);
        let c = diverging(if dmax > 0.0 { d / dmax } else { 0.0 });
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(pos[i][0], pos[i][1]), (pos[j][0], pos[j][1])],
                c.stroke_width(width),
            )))
            .map_err(|e| err(e.to_string()))?;
    }
    // Labels: one per node, then placed without overlaps.
    let mut nodes: Vec<(usize, String)> = Vec::new();
    for (n, label) in highlight {
        match nodes.iter_mut().find(|(m, _)| m == n) {
            Some((_, s)) => {
                s.push_str(", ");
                s.push_str(label);
            }
            None => nodes.push((*n, label.to_string())),
        }
    }
    let anchors: Vec<(i32, i32)> = nodes
        .iter()
        .map(|(n, _)| chart.backend_coord(&(pos[*n][0], pos[*n][1])))
        .collect();
    for (k, (n, _)) in nodes.iter().enumerate() {
        chart
            .draw_series(std::iter::once(Circle::new(
                (pos[*n][0], pos[*n][1]),
                6,
                color(k + 1).filled(),
            )))
            .map_err(|e| err(e.to_string()))?;
    }
    let texts: Vec<String> = nodes.iter().map(|(_, s)| s.clone()).collect();
    let dims = left.dim_in_pixel();
    let placed = place_labels(&anchors, &texts, 14, (dims.0 as i32, dims.1 as i32));
    for (t, p) in texts.iter().zip(placed) {
        left.draw(&Text::new(
            t.clone(),
            p,
            ("sans-serif", 14).into_font().color(&BLACK),
        ))
        .map_err(|e| err(e.to_string()))?;
    }
    // Colour bar.
    let (top, bottom, bx) = (80i32, h as i32 - 80, 20i32);
    let n = 100;
    for s in 0..n {
        let ya = top + (bottom - top) * s / n;
        let yb = top + (bottom - top) * (s + 1) / n;
        let t = 1.0 - 2.0 * (s as f64 + 0.5) / n as f64;
        right
            .draw(&Rectangle::new(
                [(bx, ya), (bx + 24, yb)],
                diverging(t).filled(),
            ))
            .map_err(|e| err(e.to_string()))?;
    }
    right
        .draw(&Rectangle::new(
            [(bx, top), (bx + 24, bottom)],
            BLACK.stroke_width(1),
        ))
        .map_err(|e| err(e.to_string()))?;
    let font = ("sans-serif", 13).into_font().color(&BLACK);
    for (t, v) in [
        (1.0, dmax),
        (0.5, dmax / 2.0),
        (0.0, 0.0),
        (-0.5, -dmax / 2.0),
        (-1.0, -dmax),
    ] {
        let y = top + ((1.0 - t) / 2.0 * (bottom - top) as f64).round() as i32;
        right
            .draw(&PathElement::new(vec![(bx + 24, y), (bx + 30, y)], BLACK))
            .map_err(|e| err(e.to_string()))?;
        right
            .draw(&Text::new(
                axis_tick_label(v, 2.0 * dmax),
                (bx + 33, y - 7),
                font.clone(),
            ))
            .map_err(|e| err(e.to_string()))?;
    }
    right
        .draw(&Text::new(
            delta_label.to_string(),
            (bx - 6, top - 30),
            font,
        ))
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))
}

/// A sequential colour map (viridis, interpolated between 5 anchors), `t` in [0, 1].
pub fn viridis(t: f64) -> RGBColor {
    const A: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * 4.0;
    let i = (x.floor() as usize).min(3);
    let f = x - i as f64;
    let mix = |a: f64, b: f64| (a + f * (b - a)).round().clamp(0.0, 255.0) as u8;
    RGBColor(
        mix(A[i].0, A[i + 1].0),
        mix(A[i].1, A[i + 1].1),
        mix(A[i].2, A[i + 1].2),
    )
}

/// A heat map `z[iy][ix]` over the grid values `xs` × `ys` (one cell per value, the values as
/// tick labels), each cell annotated with its value, and a colour bar (`log`: logarithmic
/// colour scale). Non-finite cells are grey and marked "—". PNG or SVG by extension.
#[allow(clippy::too_many_arguments)]
pub fn heatmap(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    xs: &[f64],
    ys: &[f64],
    z: &[Vec<f64>],
    z_label: &str,
    log: bool,
) -> Result<(), IoError> {
    register_font();
    let err = |e: String| IoError::Plot {
        path: path.to_path_buf(),
        message: e,
    };
    let is_svg = path
        .extension()
        .map(|e| e.eq_ignore_ascii_case("svg"))
        .unwrap_or(false);
    let size = (860, 600);
    let r = if is_svg {
        let root = SVGBackend::new(path, size).into_drawing_area();
        draw_heatmap(&root, title, x_label, y_label, xs, ys, z, z_label, log)
    } else {
        let root = BitMapBackend::new(path, size).into_drawing_area();
        draw_heatmap(&root, title, x_label, y_label, xs, ys, z, z_label, log)
    };
    r.map_err(err)
}

#[allow(clippy::too_many_arguments)]
fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    xs: &[f64],
    ys: &[f64],
    z: &[Vec<f64>],
    z_label: &str,
    log: bool,
) -> Result<(), String> {
    let e = |x: &dyn std::fmt::Display| x.to_string();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (nx, ny) = (xs.len().max(1), ys.len().max(1));
    let tr = |v: f64| if log { v.log10() } else { v };
    let ok = |v: f64| v.is_finite() && (!log || v > 0.0);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in z.iter().flatten().copied().filter(|v| ok(*v)) {
        lo = lo.min(tr(v));
        hi = hi.max(tr(v));
    }
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi <= lo {
        hi = lo + 1.0;
    }
    let t_of = |v: f64| (tr(v) - lo) / (hi - lo);
    let (main, bar) = root.split_horizontally(720);
    let mut chart = ChartBuilder::on(&main)
        .caption(title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..nx as f64, 0f64..ny as f64)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_labels(0)
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|x| e(&x))?;
    // Tick labels at the cell centres, in pixels of the panel.
    let centre = plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Center,
        plotters::style::text_anchor::VPos::Top,
    );
    let right = plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Right,
        plotters::style::text_anchor::VPos::Center,
    );
    for (i, x) in xs.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        main.draw(&Text::new(
            tick_label(*x),
            (px, py + 6),
            ("sans-serif", 14).into_font().color(&BLACK).pos(centre),
        ))
        .map_err(|x| e(&x))?;
    }
    for (i, y) in ys.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(0.0, i as f64 + 0.5));
        main.draw(&Text::new(
            tick_label(*y),
            (px - 6, py),
            ("sans-serif", 14).into_font().color(&BLACK).pos(right),
        ))
        .map_err(|x| e(&x))?;
    }
    for (iy, row) in z.iter().enumerate() {
        for (ix, &v) in row.iter().enumerate() {
            let c = if ok(v) {
                viridis(t_of(v))
            } else {
                RGBColor(200, 200, 200)
            };
            let (x0, y0) = (ix as f64, iy as f64);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, y0), (x0 + 1.0, y0 + 1.0)],
                    c.filled(),
                )))
                .map_err(|x| e(&x))?;
            let text = if v.is_finite() {
                tick_label(v)
            } else {
                "—".into()
            };
            let fg = if ok(v) && t_of(v) > 0.6 { BLACK } else { WHITE };
            let style = ("sans-serif", 14).into_font().color(&fg).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ),
            );
            chart
                .draw_series(std::iter::once(Text::new(
                    text,
                    (x0 + 0.5, y0 + 0.5),
                    style,
                )))
                .map_err(|x| e(&x))?;
        }
    }
    // Colour bar.
    let mut cb = ChartBuilder::on(&bar)
        .margin_top(50)
        .margin_bottom(62)
        .margin_right(70)
        .margin_left(8)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)
        .map_err(|x| e(&x))?;
    let n = 100;
    cb.draw_series((0..n).map(|k| {
        let t0 = k as f64 / n as f64;
        Rectangle::new(
            [(0.0, t0), (1.0, t0 + 1.0 / n as f64)],
            viridis(t0 + 0.5 / n as f64).filled(),
        )
    }))
    .map_err(|x| e(&x))?;
    for k in 0..=4 {
        let t = k as f64 / 4.0;
        let v = lo + t * (hi - lo);
        let v = if log { 10f64.powf(v) } else { v };
        cb.draw_series(std::iter::once(Text::new(
            tick_label(v),
            (1.08, t),
            ("sans-serif", 13).into_font().color(&BLACK),
        )))
        .map_err(|x| e(&x))?;
    }
    bar.draw(&Text::new(
        z_label.to_string(),
        (4, 20),
        ("sans-serif", 14).into_font().color(&BLACK),
    ))
    .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_clean() {
        assert_eq!(tick_label(1.0000000000000002e-9), "1e-9");
        assert_eq!(tick_label(9.999999999e-9), "1e-8");
        assert_eq!(tick_label(2.5e-7), "2.5e-7");
        assert_eq!(tick_label(0.30000000000000004), "0.3");
        assert_eq!(tick_label(1234.5678), "1235");
        assert_eq!(tick_label(-0.015), "-0.015");
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(2e6), "2e6");
        assert_eq!(tick_label(100.0), "100");
        // Float noise at a zero tick (the Δθ scatter printed 1.735e-18).
        assert_eq!(axis_tick_label(1.735e-18, 0.02), "0");
        assert_eq!(axis_tick_label(-0.0050000000001, 0.02), "-0.005");
        assert_eq!(axis_tick_label(0.004, 0.02), "0.004");
        assert_eq!(axis_tick_label(3e-7, 1e-6), "3e-7");
    }

    #[test]
    fn labels_do_not_overlap() {
        let anchors = [(100, 100), (102, 101), (104, 99), (300, 300)];
        let texts: Vec<String> = ["src n0", "out", "src n1", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = place_labels(&anchors, &texts, 14, (640, 640));
        for i in 0..p.len() {
            for j in 0..i {
                let wi = (texts[i].len() as i32 * 14 * 3) / 5 + 4;
                let wj = (texts[j].len() as i32 * 14 * 3) / 5 + 4;
                let sep = p[i].0 + wi <= p[j].0
                    || p[j].0 + wj <= p[i].0
                    || p[i].1 + 16 <= p[j].1
                    || p[j].1 + 16 <= p[i].1;
                assert!(sep, "labels {i} and {j} overlap: {p:?}");
            }
        }
    }

    #[test]
    fn diverging_map_is_centred() {
        assert_eq!(diverging(0.0), RGBColor(215, 215, 215));
        assert_eq!(diverging(1.0), RGBColor(178, 24, 43));
        assert_eq!(diverging(-1.0), RGBColor(33, 102, 172));
        assert_eq!(diverging(f64::NAN), diverging(0.0));
    }

    #[test]
    fn writes_png_and_svg() {
        let tmp = tempfile::tempdir().unwrap();
        let x: Vec<f64> = (0..50).map(|i| i as f64 * 0.1).collect();
        let y: Vec<f64> = x.iter().map(|v| (v * 1.3).exp()).collect();
        let fig = Figure::new("exp", "t", "y")
            .log_y()
            .add(Series::line("e^{1.3t}", x.clone(), y.clone()))
            .add(Series::points("pts", x.clone(), y).with_mark(Mark::Points));
        for name in ["a.png", "a.svg"] {
            let p = tmp.path().join(name);
            xy_plot(&p, &[fig.clone(), fig.clone()]).unwrap();
            assert!(std::fs::metadata(&p).unwrap().len() > 1000);
        }
    }

    #[test]
    fn heatmap_png_and_svg() {
        let tmp = tempfile::tempdir().unwrap();
        let z = vec![vec![1.0, 10.0, f64::NAN], vec![100.0, 3.0, 0.5]];
        for (name, log) in [("h.png", true), ("h.svg", false)] {
            let p = tmp.path().join(name);
            heatmap(
                &p,
                "t",
                "x",
                "y",
                &[0.1, 1.0, 10.0],
                &[1.0, 2.0],
                &z,
                "z",
                log,
            )
            .unwrap();
            assert!(std::fs::metadata(&p).unwrap().len() > 1000);
        }
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
    }
}
