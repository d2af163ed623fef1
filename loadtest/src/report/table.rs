//! The side-by-side table printed at the end: one column per scenario, one
//! row per figure, so the transports compare at a glance.

use std::{collections::BTreeSet, fmt::Write};

use super::{Report, ScenarioReport};
use crate::stats::Percentiles;

/// Picks one figure out of a distribution's summary.
type Pick = fn(&Percentiles) -> f64;

/// The report as a plain-text table (no colours: it is also pasted into READMEs).
pub fn table(report: &Report) -> String {
    let scenarios = &report.scenarios;
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: &str, cell: &dyn Fn(&ScenarioReport) -> String| {
        rows.push((label.to_owned(), scenarios.iter().map(cell).collect()));
    };

    row("requests ok", &|s| count(s.requests_ok));
    row("requests failed", &|s| count(s.requests_failed));
    let kinds: BTreeSet<_> = scenarios
        .iter()
        .flat_map(|s| s.failures.keys().copied())
        .collect();
    for kind in kinds {
        row(&format!("  {kind}"), &|s| {
            s.failures
                .get(&kind)
                .map_or_else(|| "-".to_owned(), |n| count(*n))
        });
    }
    if scenarios.iter().any(|s| s.late.is_some()) {
        row("late sends (>10 ms)", &|s| s.late.map_or_else(dash, count));
        row("not sent", &|s| s.not_sent.map_or_else(dash, count));
    }
    row("requests/s", &|s| rate(s.requests_per_s));
    row("books/s", &|s| rate(s.books_per_s));
    row("response MB/s", &|s| {
        format!("{:.1}", s.response_bytes_per_s / 1e6)
    });
    let percentiles: [(&str, Pick); 7] = [
        ("latency min (ms)", |p| p.min),
        ("latency p50 (ms)", |p| p.p50),
        ("latency p90 (ms)", |p| p.p90),
        ("latency p95 (ms)", |p| p.p95),
        ("latency p99 (ms)", |p| p.p99),
        ("latency p99.9 (ms)", |p| p.p99_9),
        ("latency max (ms)", |p| p.max),
    ];
    for (label, pick) in percentiles {
        row(label, &|s| {
            s.latency_ms.as_ref().map_or_else(dash, |p| millis(pick(p)))
        });
    }
    if scenarios.iter().any(|s| s.scenario.is_stream()) {
        row("first book p50 (ms)", &|s| {
            s.first_book_ms
                .as_ref()
                .map_or_else(dash, |p| millis(p.p50))
        });
        row("first book p99 (ms)", &|s| {
            s.first_book_ms
                .as_ref()
                .map_or_else(dash, |p| millis(p.p99))
        });
        row("books/s in a stream p50", &|s| {
            s.stream_books_per_s
                .as_ref()
                .map_or_else(dash, |p| rate(p.p50))
        });
    }

    render(report, &rows)
}

fn render(report: &Report, rows: &[(String, Vec<String>)]) -> String {
    let headers: Vec<&str> = report
        .scenarios
        .iter()
        .map(|s| s.scenario.as_str())
        .collect();
    let label_width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(column, header)| {
            rows.iter()
                .map(|(_, cells)| cells[column].len())
                .chain([header.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();

    let mut out = String::new();
    let _ = write!(out, "{:label_width$}", "");
    for (header, width) in headers.iter().zip(&widths) {
        let _ = write!(out, "  {header:>width$}");
    }
    out.push('\n');
    for (label, cells) in rows {
        let _ = write!(out, "{label:label_width$}");
        for (cell, width) in cells.iter().zip(&widths) {
            let _ = write!(out, "  {cell:>width$}");
        }
        out.push('\n');
    }
    out
}

fn dash() -> String {
    "-".to_owned()
}

/// Counts, grouped in thousands.
fn count(value: u64) -> String {
    bookstream::display::thousands(value)
}

/// Rates: decimals only where they carry information.
pub(super) fn rate(value: f64) -> String {
    if value >= 100.0 {
        count(value.round() as u64)
    } else {
        format!("{value:.1}")
    }
}

/// Milliseconds to about three significant digits.
fn millis(value: f64) -> String {
    match value {
        v if v < 10.0 => format!("{v:.2}"),
        v if v < 100.0 => format!("{v:.1}"),
        v => count(v.round() as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(rate(12.34), "12.3");
        assert_eq!(rate(12_345.6), "12,346");
        assert_eq!(millis(0.123), "0.12");
        assert_eq!(millis(42.42), "42.4");
        assert_eq!(millis(1234.0), "1,234");
    }

    #[test]
    fn the_table_has_a_column_per_scenario_and_a_row_per_failure_kind() {
        let text = table(&sample::report());
        let header = text.lines().next().unwrap();
        for name in ["rest", "grpc-unary", "grpc-stream", "rest-stream"] {
            assert!(header.contains(name), "{header}");
        }
        let failures = text.lines().find(|line| line.contains("http 503")).unwrap();
        assert!(failures.trim_end().ends_with('-'), "{failures}");
        let ok = text
            .lines()
            .find(|line| line.starts_with("requests ok"))
            .unwrap();
        assert_eq!(
            ok.split_whitespace().filter(|cell| *cell == "100").count(),
            4,
            "{ok}"
        );
        assert!(text.contains("first book p50 (ms)"), "{text}");
        assert!(
            !text.contains("late sends"),
            "a closed run has no late sends:\n{text}"
        );
    }

    #[test]
    fn every_line_lines_up() {
        let text = table(&sample::report());
        let widths: BTreeSet<usize> = text.lines().map(str::len).collect();
        assert_eq!(widths.len(), 1, "{text}");
    }
}
