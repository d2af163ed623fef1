//! The SVG chart: requests/s as bars on the left, latency percentiles as one
//! line per scenario on the right, each scenario in the same colour on both,
//! with values written on the bars so the chart reads without the table.

use plotters::{
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use super::{Report, ReportError, table::rate};
use crate::cli::ScenarioName;

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 520;
const FONT: &str = "sans-serif";

/// Percentiles along the latency panel's x axis.
const LATENCY_POINTS: [&str; 6] = ["p50", "p90", "p95", "p99", "p99.9", "max"];

/// One colour per scenario, the same in every chart (colour-blind friendly, Okabe-Ito).
fn colour(scenario: ScenarioName) -> RGBColor {
    match scenario {
        ScenarioName::Rest => RGBColor(230, 159, 0),
        ScenarioName::GrpcUnary => RGBColor(0, 114, 178),
        ScenarioName::GrpcStream => RGBColor(0, 158, 115),
        ScenarioName::RestStream => RGBColor(204, 121, 167),
        ScenarioName::GrpcAppend => RGBColor(86, 180, 233),
        ScenarioName::RestAppend => RGBColor(213, 94, 0),
    }
}

/// The report's chart as an SVG document.
pub fn chart_svg(report: &Report) -> Result<String, ReportError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let title = format!(
            "Bookstream: {} books per request, {}",
            report.settings.max_results,
            load_words(report)
        );
        let root = root.titled(&title, (FONT, 22)).map_err(chart_error)?;
        let (left, right) = root.split_horizontally(WIDTH * 2 / 5);
        requests_per_second(&left, report)?;
        latency_percentiles(&right, report)?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

fn load_words(report: &Report) -> String {
    match report.settings.load {
        crate::load::LoadModel::Closed { users, .. } => format!("closed model, {users} users"),
        crate::load::LoadModel::Open { rate, .. } => format!("open model, {rate} requests/s"),
    }
}

fn requests_per_second<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    report: &Report,
) -> Result<(), ReportError> {
    let scenarios = &report.scenarios;
    let top = scenarios
        .iter()
        .map(|s| s.requests_per_s)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption("requests/s (higher is better)", (FONT, 18))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(segments(scenarios.len()), 0.0..top)
        .map_err(chart_error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|value| match value {
            SegmentValue::CenterOf(index) => scenarios
                .get(*index as usize)
                .map(|s| s.scenario.to_string())
                .unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_style((FONT, 15))
        .y_label_formatter(&|value| rate(*value))
        .y_desc("requests/s")
        .draw()
        .map_err(chart_error)?;

    chart
        .draw_series(scenarios.iter().enumerate().map(|(index, s)| {
            let index = index as i32;
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(index), 0.0),
                    (SegmentValue::Exact(index + 1), s.requests_per_s),
                ],
                colour(s.scenario).filled(),
            );
            bar.set_margin(0, 0, 12, 12);
            bar
        }))
        .map_err(chart_error)?;
    let label_style =
        TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart
        .draw_series(scenarios.iter().enumerate().map(|(index, s)| {
            Text::new(
                format!("{}/s", rate(s.requests_per_s)),
                (SegmentValue::CenterOf(index as i32), s.requests_per_s),
                label_style.clone(),
            )
        }))
        .map_err(chart_error)?;
    Ok(())
}

fn latency_percentiles<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    report: &Report,
) -> Result<(), ReportError> {
    let lines: Vec<(ScenarioName, [f64; 6])> = report
        .scenarios
        .iter()
        .filter_map(|s| {
            let p = s.latency_ms.as_ref()?;
            Some((s.scenario, [p.p50, p.p90, p.p95, p.p99, p.p99_9, p.max]))
        })
        .collect();
    let values = lines.iter().flat_map(|(_, values)| values.iter().copied());
    let (low, high) = values.fold((f64::MAX, 0.0f64), |(low, high), v| {
        (low.min(v), high.max(v))
    });
    // A log axis keeps p50 readable next to a tail ten or a hundred times higher.
    let (low, high) = if lines.is_empty() {
        (0.1, 1.0)
    } else {
        ((low * 0.7).max(0.001), (high * 1.4).max(low * 2.0))
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            "latency percentiles, ms (lower is better, log scale)",
            (FONT, 18),
        )
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(
            segments(LATENCY_POINTS.len()),
            (low..high)
                .log_scale()
                .with_key_points(key_points(low, high)),
        )
        .map_err(chart_error)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|value| match value {
            SegmentValue::CenterOf(index) => LATENCY_POINTS
                .get(*index as usize)
                .map(|name| (*name).to_owned())
                .unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_style((FONT, 15))
        .y_label_formatter(&|value| format_ms(*value))
        .y_desc("ms")
        .draw()
        .map_err(chart_error)?;

    for (scenario, values) in &lines {
        let colour = colour(*scenario);
        let points: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(index, value)| (SegmentValue::CenterOf(index as i32), *value))
            .collect();
        chart
            .draw_series(std::iter::once(PathElement::new(
                points.clone(),
                colour.stroke_width(3),
            )))
            .map_err(chart_error)?
            .label(scenario.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
            });
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|point| Circle::new(point, 4, colour.filled())),
            )
            .map_err(chart_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(chart_error)?;
    Ok(())
}

/// `count` categories, one segment each: plotters' segmented range over
/// `0..n` holds n + 1 segments, which drew an empty slot at the right.
fn segments(
    count: usize,
) -> plotters::coord::ranged1d::SegmentedCoord<plotters::coord::types::RangedCoordi32> {
    // One category still needs a non-empty range (then one empty slot shows).
    (0..(count as i32 - 1).max(1)).into_segmented()
}

/// Axis labels at 1, 2 and 5 times the powers of ten within `[low, high]`:
/// plotters labels only powers of ten, too few on a range under a decade.
fn key_points(low: f64, high: f64) -> Vec<f64> {
    let mut points = Vec::new();
    let mut decade = 10f64.powf(low.log10().floor());
    while decade <= high {
        points.extend(
            [1.0, 2.0, 5.0]
                .map(|step| step * decade)
                .into_iter()
                .filter(|point| (low..=high).contains(point)),
        );
        decade *= 10.0;
    }
    points
}

fn format_ms(value: f64) -> String {
    if value >= 10.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn chart_error(error: impl std::fmt::Display) -> ReportError {
    ReportError::Chart(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn the_chart_is_an_svg_naming_every_scenario_and_percentile() {
        let svg = chart_svg(&sample::report()).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for text in [
            "rest",
            "grpc-unary",
            "grpc-stream",
            "rest-stream",
            "p99.9",
            "requests/s",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert!(
            svg.lines().any(|line| line.trim() == "10.0/s"),
            "the bar values are written on the bars"
        );
    }

    #[test]
    fn latency_labels_step_one_two_five() {
        assert_eq!(key_points(0.7, 12.0), [1.0, 2.0, 5.0, 10.0]);
        assert_eq!(key_points(150.0, 2000.0), [200.0, 500.0, 1000.0, 2000.0]);
    }

    #[test]
    fn a_run_without_successes_still_draws() {
        let mut report = sample::report();
        for scenario in &mut report.scenarios {
            scenario.latency_ms = None;
            scenario.requests_per_s = 0.0;
        }
        assert!(chart_svg(&report).is_ok());
    }
}
