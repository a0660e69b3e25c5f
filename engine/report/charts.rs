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

/// A named series of (x, y) points.
pub(crate) struct Series {
    pub name: &'static str,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
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

/// A line chart over the run's time axis (seconds) with a vertical marker per fault.
pub(crate) fn timeline_chart(
    id: &str,
    title: &str,
    y_format: YFormat,
    series: &[Series],
    faults: &[(f64, String)],
    x_max: f64,
) -> Option<Chart> {
    if series.iter().all(|s| s.points.is_empty()) {
        return None;
    }
    let y_max = nice_max(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max));
    let x_max = x_max.max(1.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .ok()?;
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(5)
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.08))
            .x_label_formatter(&time_label)
            .y_label_formatter(&|v| y_label(y_format, *v))
            .label_style(("sans-serif", 12))
            .draw()
            .ok()?;
        for (at, label) in faults {
            chart
                .draw_series(DashedLineSeries::new(vec![(*at, 0.0), (*at, y_max)], 4, 3, FAULT.stroke_width(1)))
                .ok()?;
            chart
                .draw_series(std::iter::once(Text::new(
                    label.clone(),
                    (*at, y_max * 0.97),
                    ("sans-serif", 11).into_font().color(&FAULT),
                )))
                .ok()?;
        }
        for s in series.iter().filter(|s| !s.points.is_empty()) {
            let color = s.color;
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
                .ok()?
                .label(s.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        }
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
    Some(Chart { id: id.to_owned(), title: title.to_owned(), svg })
}

/// A chart of values against the arrival rate (a breaking-point phase's steps), with both axes
/// titled and a marker on every step.
pub(crate) fn rate_chart(id: &str, title: &str, y_title: &str, y_format: YFormat, series: &[Series]) -> Option<Chart> {
    if series.iter().all(|s| s.points.is_empty()) {
        return None;
    }
    let x_max = nice_max(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(0.0, f64::max));
    let y_max = nice_max(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max));
    let mut svg = String::new();
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
            .x_desc("arrival rate (messages/s)")
            .y_desc(y_title)
            .x_label_formatter(&|v| format!("{v:.1}/s"))
            .y_label_formatter(&|v| y_label(y_format, *v))
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 12))
            .draw()
            .ok()?;
        for s in series.iter().filter(|s| !s.points.is_empty()) {
            let color = s.color;
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
                .ok()?
                .label(s.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            chart.draw_series(s.points.iter().map(|p| Circle::new(*p, 3, color.filled()))).ok()?;
        }
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
    Some(Chart { id: id.to_owned(), title: title.to_owned(), svg })
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
