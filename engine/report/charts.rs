//! Inline SVG charts for the HTML report, drawn with plotters: timelines with fault markers, and
//! latency percentile spectra. The SVG is self-contained (no fonts or scripts to fetch) and
//! plotters escapes every label, so user text in a chart cannot become markup.

use std::time::Duration;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::plan::format_duration;

/// One rendered chart.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Chart {
    /// An id for anchors and tests.
    pub id: String,
    /// The heading shown above it.
    pub title: String,
    /// The SVG document.
    pub svg: String,
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Style {
    /// A solid line.
    #[default]
    Line,
    /// A dashed line, told apart from a solid one without colour.
    Dashed,
    /// A dotted line.
    Dotted,
    /// Bars per interval, stacked on the other bar series of the chart.
    Bars,
    /// Points only (a scatter).
    Points,
}

/// A named series of (x, y) points.
pub(crate) struct Series {
    pub name: &'static str,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
}

impl Series {
    /// A solid line.
    pub(crate) fn line(name: &'static str, color: RGBColor, points: Vec<(f64, f64)>) -> Self {
        Self { name, color, points, style: Style::Line }
    }

    /// The same series drawn another way.
    pub(crate) fn styled(mut self, style: Style) -> Self {
        self.style = style;
        self
    }
}

/// What a timeline chart shows besides its series: phases as bands, faults as markers, and the
/// length of the run.
pub(crate) struct Backdrop<'a> {
    /// (start, end, name) of each phase that ran, seconds.
    pub phases: &'a [(f64, f64, String)],
    /// (time, label) of each fault that struck, seconds.
    pub faults: &'a [(f64, String)],
    /// The run's length, seconds.
    pub x_max: f64,
}

/// Faults drawn one by one up to this many; more become a strip of ticks with their count.
const FAULTS_LABELLED: usize = 12;

/// Ticks at round times (10s, 1m, 5m, 1h) that fit about eight to the axis.
fn time_ticks(x_max: f64) -> Vec<f64> {
    const STEPS: [f64; 16] =
        [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0];
    let step = STEPS.iter().copied().find(|s| x_max / s <= 8.0).unwrap_or(86400.0 * (x_max / 86400.0 / 8.0).ceil());
    (0..=((x_max / step).floor() as usize)).map(|k| k as f64 * step).collect()
}

/// `<title>` elements over the points of a chart, so a pointer on a point shows its value (no
/// script); added to the SVG plotters wrote.
fn with_hover(svg: String, hovers: &[(i32, i32, String)]) -> String {
    if hovers.is_empty() {
        return svg;
    }
    let mut overlay = String::from("<g class=\"hover\">");
    for (x, y, text) in hovers {
        let text = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        overlay.push_str(&format!(
            "<circle cx=\"{x}\" cy=\"{y}\" r=\"5\" fill=\"transparent\"><title>{text}</title></circle>"
        ));
    }
    overlay.push_str("</g>");
    with_elements(svg, &overlay)
}

/// Line series with more points than twice this are drawn from the smallest and the largest
/// point of each of this many runs of neighbouring points: about one point per pixel of the
/// plot, so a day-long timeline draws as fast and as small as an hour's, and no peak or dip is
/// lost.
const LINE_BUCKETS: usize = 320;

/// Bar series with more intervals than this draw one bar per run of neighbouring intervals, as
/// tall as the largest of them.
const MAX_BARS: usize = 160;

/// `points` thinned to the smallest and largest of each of `buckets` runs of neighbours, in
/// order; unchanged when short enough.
fn decimate(points: &[(f64, f64)], buckets: usize) -> Vec<(f64, f64)> {
    if points.len() <= 2 * buckets {
        return points.to_vec();
    }
    let run = points.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(2 * buckets);
    for chunk in points.chunks(run) {
        let lo = chunk.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1));
        let hi = chunk.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1));
        match (lo, hi) {
            (Some(lo), Some(hi)) if lo.0 < hi.0 => out.extend([lo, hi]),
            (Some(lo), Some(hi)) if lo.0 > hi.0 => out.extend([hi, lo]),
            (Some(p), _) => out.push(p),
            _ => {}
        }
    }
    out
}

/// A bar: its left and right edge and its height.
type Bar = (f64, f64, f64);

/// Bars as (left, right, height): each point closes an interval that began at the previous one;
/// more than `MAX_BARS` intervals are drawn in runs, each as tall as its largest interval.
fn bars(points: &[(f64, f64)]) -> Vec<Bar> {
    let run = points.len().div_ceil(MAX_BARS).max(1);
    let mut left = 0.0;
    points
        .chunks(run)
        .filter_map(|chunk| {
            let right = chunk.last()?.0;
            let y = chunk.iter().map(|p| p.1).fold(0.0, f64::max);
            let bar = (left, right, y);
            left = right;
            Some(bar)
        })
        .collect()
}

/// A dashed or dotted line as one SVG polyline with a dash pattern, in pixels of the chart.
/// (plotters draws every dash as an element of its own: thousands for a jagged line.)
fn dashed_polyline(pixels: &[(i32, i32)], color: RGBColor, dash: (u32, u32)) -> String {
    let mut points = String::new();
    let mut last = None;
    for &(x, y) in pixels {
        // Neighbours that land on the same pixel draw nothing more.
        if last != Some((x, y)) {
            points.push_str(&format!("{x},{y} "));
            last = Some((x, y));
        }
    }
    format!(
        "<polyline fill=\"none\" stroke=\"#{:02X}{:02X}{:02X}\" stroke-width=\"2\" stroke-dasharray=\"{} {}\" points=\"{}\"/>",
        color.0,
        color.1,
        color.2,
        dash.0,
        dash.1,
        points.trim_end()
    )
}

/// Adds SVG elements just before the end of a document plotters wrote.
fn with_elements(svg: String, elements: &str) -> String {
    if elements.is_empty() {
        return svg;
    }
    match svg.rfind("</svg>") {
        Some(end) => format!("{}{elements}{}", &svg[..end], &svg[end..]),
        None => svg,
    }
}

/// Hover titles, at most one per pixel a series occupies.
fn push_hover(
    hovers: &mut Vec<(i32, i32, String)>,
    seen: &mut std::collections::HashSet<(i32, i32)>,
    at: (i32, i32),
    text: impl FnOnce() -> String,
) {
    if seen.insert(at) {
        hovers.push((at.0, at.1, text()));
    }
}

/// Colours that stay apart for people with the common colour-vision deficiencies.
pub(crate) const BLUE: RGBColor = RGBColor(0, 114, 178);
pub(crate) const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub(crate) const VERMILION: RGBColor = RGBColor(213, 94, 0);
pub(crate) const GREEN: RGBColor = RGBColor(0, 158, 115);
pub(crate) const PURPLE: RGBColor = RGBColor(204, 121, 167);
const FAULT: RGBColor = RGBColor(200, 30, 30);

const WIDTH: u32 = 860;
const HEIGHT: u32 = 260;

fn time_label(x: &f64) -> String {
    format_duration(Duration::from_secs_f64(x.max(0.0)))
}

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    v * 1.08
}

/// How the y axis of a timeline is labelled.
#[derive(Debug, Clone, Copy)]
pub(crate) enum YFormat {
    /// Milliseconds, shown as durations.
    Millis,
    /// Plain numbers.
    Number,
    /// Percent.
    Percent,
    /// MiB.
    Mebibytes,
}

fn y_label(format: YFormat, v: f64) -> String {
    let v = v.max(0.0);
    match format {
        YFormat::Millis => format_duration(Duration::from_secs_f64(v / 1e3)),
        YFormat::Number if (v - v.round()).abs() < 1e-9 => format!("{}", v.round() as i64),
        YFormat::Number => format!("{v:.1}"),
        YFormat::Percent => format!("{v:.0}%"),
        YFormat::Mebibytes => format!("{v:.0} MiB"),
    }
}

/// A chart over the run's time axis (seconds): phases as shaded bands, faults as markers (a
/// strip with their count when dense), titled axes with ticks at round times, the legend right
/// of the plot, and a hover title on every point.
pub(crate) fn timeline_chart(
    id: &str,
    title: &str,
    y_title: &str,
    y_format: YFormat,
    series: &[Series],
    backdrop: &Backdrop<'_>,
) -> Option<Chart> {
    if series.iter().all(|s| s.points.is_empty()) {
        return None;
    }
    // Bars of every bar series come from the same intervals, so they stack by their right edge.
    let bar_series: Vec<(&Series, Vec<Bar>)> =
        series.iter().filter(|s| s.style == Style::Bars).map(|s| (s, bars(&s.points))).collect();
    let mut stacks: std::collections::HashMap<u64, f64> = std::collections::HashMap::new();
    for (_, bs) in &bar_series {
        for (_, right, y) in bs {
            *stacks.entry(right.to_bits()).or_default() += y;
        }
    }
    let line_max = series.iter().filter(|s| s.style != Style::Bars).flat_map(|s| s.points.iter().map(|p| p.1));
    let y_max = nice_max(line_max.chain(stacks.values().copied()).fold(0.0, f64::max));
    let x_max = backdrop.x_max.max(1.0);
    let mut hovers = Vec::new();
    let mut extra = String::new();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT + 20)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        // The legend lives in the right margin, outside the data.
        let (plot, legend) = root.split_horizontally(WIDTH - 130);
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(78)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .ok()?;
        // The x ticks are drawn by hand at round times (plotters picks round decimals: 50s,
        // 1m 40s), with a light grid line each.
        chart
            .configure_mesh()
            .x_labels(0)
            .y_labels(5)
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.08))
            .x_desc("time since the start")
            .y_desc(y_title)
            .y_label_formatter(&|v| y_label(y_format, *v))
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 12))
            .draw()
            .ok()?;
        for t in time_ticks(x_max) {
            chart.draw_series(std::iter::once(PathElement::new(vec![(t, 0.0), (t, y_max)], BLACK.mix(0.08)))).ok()?;
            let (px, py) = chart.backend_coord(&(t, 0.0));
            let label = time_label(&t);
            let half = (label.len() as i32 * 6) / 2;
            plot.draw(&Text::new(label, (px - half, py + 6), ("sans-serif", 12))).ok()?;
        }
        for (i, (start, end, name)) in backdrop.phases.iter().enumerate() {
            let shade = if i % 2 == 0 { BLACK.mix(0.05) } else { BLUE.mix(0.06) };
            chart.draw_series(std::iter::once(Rectangle::new([(*start, 0.0), (*end, y_max)], shade.filled()))).ok()?;
            chart
                .draw_series(std::iter::once(Text::new(
                    name.clone(),
                    (*start, y_max * 0.99),
                    ("sans-serif", 11).into_font().color(&BLACK.mix(0.55)),
                )))
                .ok()?;
        }
        let dense = backdrop.faults.len() > FAULTS_LABELLED;
        for (at, label) in backdrop.faults {
            if dense {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(*at, 0.0), (*at, y_max * 0.05)],
                        FAULT.stroke_width(1),
                    )))
                    .ok()?;
            } else {
                chart
                    .draw_series(DashedLineSeries::new(vec![(*at, 0.0), (*at, y_max)], 4, 3, FAULT.stroke_width(1)))
                    .ok()?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        label.clone(),
                        (*at, y_max * 0.9),
                        ("sans-serif", 11).into_font().color(&FAULT),
                    )))
                    .ok()?;
            }
            let (x, y) = chart.backend_coord(&(*at, 0.0));
            hovers.push((x, y, format!("{label} at {}", time_label(at))));
        }
        // Bars: each interval's column (or run of intervals'), stacked in series order.
        let mut base: std::collections::HashMap<u64, f64> = std::collections::HashMap::new();
        for (s, bs) in &bar_series {
            let color = s.color;
            let mut seen = std::collections::HashSet::new();
            for &(left, x, y) in bs {
                let below = base.get(&x.to_bits()).copied().unwrap_or(0.0);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(left + (x - left) * 0.1, below), (x - (x - left) * 0.1, below + y)],
                        color.mix(0.85).filled(),
                    )))
                    .ok()?;
                let at = chart.backend_coord(&((left + x) / 2.0, below + y));
                push_hover(&mut hovers, &mut seen, at, || {
                    format!("{} at {}: {}", s.name, time_label(&x), y_label(y_format, y))
                });
                *base.entry(x.to_bits()).or_default() += y;
            }
        }
        for s in series.iter().filter(|s| !s.points.is_empty() && s.style != Style::Bars) {
            let style = s.color.stroke_width(2);
            let points = decimate(&s.points, LINE_BUCKETS);
            let pixels = || points.iter().map(|p| chart.backend_coord(p)).collect::<Vec<_>>();
            match s.style {
                Style::Dashed => extra.push_str(&dashed_polyline(&pixels(), s.color, (7, 4))),
                Style::Dotted => extra.push_str(&dashed_polyline(&pixels(), s.color, (2, 3))),
                _ => {
                    chart.draw_series(LineSeries::new(points.iter().copied(), style)).ok()?;
                }
            }
            let mut seen = std::collections::HashSet::new();
            for (x, y) in &points {
                let at = chart.backend_coord(&(*x, *y));
                push_hover(&mut hovers, &mut seen, at, || {
                    format!("{} at {}: {}", s.name, time_label(x), y_label(y_format, *y))
                });
            }
        }
        // The legend: a swatch drawn as the series is (line, dashes, dots or a bar), then its name.
        for (i, s) in series.iter().filter(|s| !s.points.is_empty()).enumerate() {
            let y = 24 + i as i32 * 20;
            let color = s.color;
            match s.style {
                Style::Bars => {
                    legend.draw(&Rectangle::new([(4, y - 5), (22, y + 5)], color.mix(0.85).filled())).ok()?;
                }
                Style::Dashed => {
                    legend.draw(&PathElement::new(vec![(4, y), (10, y)], color.stroke_width(2))).ok()?;
                    legend.draw(&PathElement::new(vec![(15, y), (22, y)], color.stroke_width(2))).ok()?;
                }
                Style::Dotted => {
                    for x0 in [4, 9, 14, 19] {
                        legend.draw(&PathElement::new(vec![(x0, y), (x0 + 2, y)], color.stroke_width(2))).ok()?;
                    }
                }
                Style::Points => {
                    legend.draw(&Circle::new((13, y), 3, color.filled())).ok()?;
                }
                Style::Line => {
                    legend.draw(&PathElement::new(vec![(4, y), (22, y)], color.stroke_width(2))).ok()?;
                }
            }
            legend.draw(&Text::new(s.name.to_owned(), (28, y - 7), ("sans-serif", 12))).ok()?;
        }
        if dense {
            let y = 24 + series.len() as i32 * 20;
            legend.draw(&PathElement::new(vec![(13, y - 6), (13, y + 6)], FAULT.stroke_width(2))).ok()?;
            legend
                .draw(&Text::new(
                    format!("{} faults", backdrop.faults.len()),
                    (28, y - 7),
                    ("sans-serif", 12).into_font().color(&FAULT),
                ))
                .ok()?;
        }
        root.present().ok()?;
    }
    Some(Chart { id: id.to_owned(), title: title.to_owned(), svg: with_hover(with_elements(svg, &extra), &hovers) })
}

/// A chart of values against the arrival rate (a breaking-point phase's steps), with both axes
/// titled and a marker on every step.
pub(crate) fn rate_chart(
    id: &str,
    title: &str,
    x_title: &str,
    y_title: &str,
    y_format: YFormat,
    series: &[Series],
) -> Option<Chart> {
    if series.iter().all(|s| s.points.is_empty()) {
        return None;
    }
    let x_max = nice_max(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(0.0, f64::max));
    let y_max = nice_max(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max));
    let mut svg = String::new();
    let mut extra = String::new();
    let svg_hovers;
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(78)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .ok()?;
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(5)
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.08))
            .x_desc(x_title)
            .y_desc(y_title)
            .x_label_formatter(&|v| format!("{v:.1}/s"))
            .y_label_formatter(&|v| y_label(y_format, *v))
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 12))
            .draw()
            .ok()?;
        let mut hovers = Vec::new();
        for s in series.iter().filter(|s| !s.points.is_empty()) {
            let color = s.color;
            if s.style != Style::Points {
                let style = color.stroke_width(2);
                match s.style {
                    Style::Dashed => {
                        let pixels: Vec<(i32, i32)> = s.points.iter().map(|p| chart.backend_coord(p)).collect();
                        extra.push_str(&dashed_polyline(&pixels, color, (7, 4)));
                    }
                    _ => {
                        chart.draw_series(LineSeries::new(s.points.iter().copied(), style)).ok()?;
                    }
                }
            }
            // One marker per pixel: thousands of intervals on top of each other draw as one.
            let mut seen = std::collections::HashSet::new();
            let marked: Vec<(f64, f64)> =
                s.points.iter().copied().filter(|p| seen.insert(chart.backend_coord(p))).collect();
            chart
                .draw_series(marked.iter().map(|p| Circle::new(*p, 3, color.filled())))
                .ok()?
                .label(s.name)
                .legend(move |(x, y)| Circle::new((x + 9, y), 3, color.filled()));
            for (x, y) in &marked {
                let (hx, hy) = chart.backend_coord(&(*x, *y));
                hovers.push((hx, hy, format!("{} at {x:.2}/s: {}", s.name, y_label(y_format, *y))));
            }
        }
        svg_hovers = hovers;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.2))
            .label_font(("sans-serif", 12))
            .draw()
            .ok()?;
        root.present().ok()?;
    }
    Some(Chart { id: id.to_owned(), title: title.to_owned(), svg: with_hover(with_elements(svg, &extra), &svg_hovers) })
}

/// The label of a spectrum position: x = log10(1 / (1 - q)).
fn spectrum_label(x: &f64) -> String {
    match x.round() as i64 {
        0 => "p0".into(),
        1 => "p90".into(),
        2 => "p99".into(),
        3 => "p99.9".into(),
        4 => "p99.99".into(),
        n => format!("{n}"),
    }
}

/// A percentile spectrum: latency against percentile on a log scale up to p99.99, so the tail is
/// as readable as the median.
pub(crate) fn spectrum_chart(id: &str, title: &str, hist: &hdrhistogram::Histogram<u64>) -> Option<Chart> {
    if hist.is_empty() {
        return None;
    }
    // x = log10(1 / (1 - q)); 0 is p0, 4 is p99.99.
    let points: Vec<(f64, f64)> = (0..=80)
        .map(|k| {
            let x = k as f64 * 0.05;
            let q = 1.0 - 10f64.powf(-x);
            (x, hist.value_at_quantile(q) as f64 / 1e3)
        })
        .collect();
    let y_max = nice_max(points.iter().map(|p| p.1).fold(0.0, f64::max));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..4f64, 0f64..y_max)
            .ok()?;
        chart
            .configure_mesh()
            .x_labels(5)
            .y_labels(5)
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.08))
            .x_label_formatter(&spectrum_label)
            .y_label_formatter(&|v| format_duration(Duration::from_secs_f64(v.max(0.0) / 1e3)))
            .x_desc("percentile (log scale)")
            .label_style(("sans-serif", 12))
            .draw()
            .ok()?;
        chart.draw_series(LineSeries::new(points, BLUE.stroke_width(2))).ok()?;
        root.present().ok()?;
    }
    Some(Chart { id: id.to_owned(), title: title.to_owned(), svg })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_thinned_to_the_extremes_of_each_run_in_order() {
        let points: Vec<(f64, f64)> = (0..10_000).map(|i| (f64::from(i), f64::from(i % 97))).collect();
        let thin = decimate(&points, 100);
        assert!(thin.len() <= 200, "{} points", thin.len());
        assert!(thin.windows(2).all(|w| w[0].0 < w[1].0), "in order of x");
        // Every run of 100 points spans a whole cycle of 97: each keeps a 0 and a 96.
        assert_eq!(thin.iter().map(|p| p.1).fold(f64::INFINITY, f64::min), 0.0);
        assert_eq!(thin.iter().map(|p| p.1).fold(0.0, f64::max), 96.0);
        // A lone spike is kept.
        let mut spiky = vec![(0.0, 1.0); 5_000];
        for (i, p) in spiky.iter_mut().enumerate() {
            p.0 = i as f64;
        }
        spiky[3_333].1 = 500.0;
        assert!(decimate(&spiky, 100).contains(&(3_333.0, 500.0)));
        // Short series are drawn as they are.
        assert_eq!(decimate(&points[..150], 100), points[..150].to_vec());
    }

    #[test]
    fn many_bars_are_drawn_in_runs_as_tall_as_their_largest_interval() {
        let points: Vec<(f64, f64)> = (1..=1_000).map(|i| (f64::from(i), if i == 500 { 50.0 } else { 1.0 })).collect();
        let drawn = bars(&points);
        assert!(drawn.len() <= MAX_BARS, "{} bars", drawn.len());
        // The bars tile the axis: each starts where the one before ended, the first at 0.
        assert_eq!(drawn[0].0, 0.0);
        assert!(drawn.windows(2).all(|w| w[0].1 == w[1].0));
        assert_eq!(drawn.last().map(|b| b.1), Some(1_000.0));
        assert_eq!(drawn.iter().filter(|b| b.2 == 50.0).count(), 1);
        // Few intervals: one bar each.
        assert_eq!(bars(&points[..10]).len(), 10);
    }

    #[test]
    fn a_dashed_line_is_one_element_without_repeated_pixels() {
        let line = dashed_polyline(&[(1, 2), (1, 2), (3, 4)], BLUE, (7, 4));
        assert_eq!(line.matches("<polyline").count(), 1);
        assert!(line.contains("points=\"1,2 3,4\""), "{line}");
        assert!(line.contains("stroke-dasharray=\"7 4\""));
    }
}
