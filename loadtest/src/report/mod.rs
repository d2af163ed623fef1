//! The figures of a run, and the ways of showing them: a side-by-side table,
//! JSON with every figure, CSV, and an SVG chart.

mod chart;
mod csv;
mod table;

use std::{collections::BTreeMap, io, path::Path};

use serde::Serialize;

pub use chart::chart_svg;
pub use csv::write_csv;
pub use table::table;

use crate::{
    cli::ScenarioName,
    load::{LoadModel, Measured},
    outcome::FailureKind,
    stats::Percentiles,
};

/// Writing a report file failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {what} to {path}: {source}")]
    Write {
        what: &'static str,
        path: String,
        source: io::Error,
    },
    #[error("cannot encode the JSON report: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot draw the chart: {0}")]
    Chart(String),
}

/// Everything a run measured, as written to `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub settings: RunSettings,
    pub scenarios: Vec<ScenarioReport>,
}

/// The settings every scenario of the run shared.
#[derive(Debug, Clone, Serialize)]
pub struct RunSettings {
    pub load: LoadModel,
    pub max_results: u64,
    pub user_id: u64,
    pub connections: u32,
    pub run_time_s: f64,
    pub warmup_s: f64,
    pub timeout_s: f64,
}

/// One scenario's figures. Rates are per second of the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub scenario: ScenarioName,
    pub requests_ok: u64,
    pub requests_failed: u64,
    /// Failed requests by kind (`http 503`, `grpc INTERNAL`, `mismatch`, `timeout`, `transport`).
    pub failures: BTreeMap<FailureKind, u64>,
    /// The first failure of each kind, worded.
    pub first_errors: BTreeMap<FailureKind, String>,
    /// Closed model: requests in flight when the run ended, not counted.
    pub cut_at_end: u64,
    /// Open model: requests sent more than 10 ms after their due time.
    pub late: Option<u64>,
    /// Open model: requests due in the window that were never sent.
    pub not_sent: Option<u64>,
    pub elapsed_s: f64,
    pub requests_per_s: f64,
    pub books_per_s: f64,
    pub response_bytes_per_s: f64,
    /// Whole-request latency of successful requests (from the due time in the open model).
    pub latency_ms: Option<Percentiles>,
    /// Streams: request sent to first book.
    pub first_book_ms: Option<Percentiles>,
    /// Streams: books/s within each stream, first to last book.
    pub stream_books_per_s: Option<Percentiles>,
}

impl ScenarioReport {
    pub fn new(scenario: ScenarioName, model: LoadModel, measured: &Measured) -> Self {
        let stats = &measured.stats;
        let seconds = measured.elapsed.as_secs_f64();
        let per_second = |count: u64| {
            if seconds > 0.0 {
                count as f64 / seconds
            } else {
                0.0
            }
        };
        let open = matches!(model, LoadModel::Open { .. });
        Self {
            scenario,
            requests_ok: stats.ok(),
            requests_failed: stats.failed(),
            failures: stats.failures().clone(),
            first_errors: stats.first_errors().clone(),
            cut_at_end: measured.cut_at_end,
            late: open.then_some(stats.late()),
            not_sent: open.then_some(measured.not_sent),
            elapsed_s: seconds,
            requests_per_s: per_second(stats.ok()),
            books_per_s: per_second(stats.books()),
            response_bytes_per_s: per_second(stats.bytes()),
            latency_ms: stats.latency_ms(),
            first_book_ms: stats.first_book_ms(),
            stream_books_per_s: stats.stream_books_per_s(),
        }
    }
}

impl Report {
    /// Writes the files asked for; `None` paths are skipped.
    pub fn write_files(
        &self,
        json: Option<&Path>,
        csv: Option<&Path>,
        chart: Option<&Path>,
    ) -> Result<(), ReportError> {
        if let Some(path) = json {
            let mut text = serde_json::to_string_pretty(self)?;
            text.push('\n');
            write(path, "the JSON report", text.as_bytes())?;
        }
        if let Some(path) = csv {
            let mut text = Vec::new();
            write_csv(self, &mut text).map_err(|source| ReportError::Write {
                what: "the CSV report",
                path: path.display().to_string(),
                source,
            })?;
            write(path, "the CSV report", &text)?;
        }
        if let Some(path) = chart {
            write(path, "the chart", chart_svg(self)?.as_bytes())?;
        }
        Ok(())
    }
}

fn write(path: &Path, what: &'static str, bytes: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, bytes).map_err(|source| ReportError::Write {
        what,
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
pub(crate) mod sample {
    //! A small fixed report for the renderers' tests.

    use std::time::Duration;

    use super::*;
    use crate::{
        outcome::{Failure, Measurement},
        stats::Stats,
    };

    pub(crate) fn report() -> Report {
        let model = LoadModel::Closed {
            users: 10,
            spawn_rate: 2.0,
        };
        let mut scenarios = Vec::new();
        for (index, name) in ScenarioName::ALL.into_iter().enumerate() {
            let mut stats = Stats::new();
            for ms in 1..=100 {
                let measurement = Measurement {
                    books: 100,
                    bytes: 16_000,
                    first_book: name.is_stream().then(|| Duration::from_micros(300)),
                    streaming: name.is_stream().then(|| Duration::from_millis(1)),
                };
                stats.record(
                    Duration::from_millis(ms * (index as u64 + 1)),
                    Ok(measurement),
                );
            }
            if name == ScenarioName::Rest {
                stats.record(
                    Duration::ZERO,
                    Err(Failure::new(FailureKind::HttpStatus(503), "busy")),
                );
            }
            let measured = Measured {
                stats,
                elapsed: Duration::from_secs(10),
                ..Measured::default()
            };
            scenarios.push(ScenarioReport::new(name, model, &measured));
        }
        Report {
            settings: RunSettings {
                load: model,
                max_results: 100,
                user_id: 0,
                connections: 10,
                run_time_s: 10.0,
                warmup_s: 0.0,
                timeout_s: 30.0,
            },
            scenarios,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_report_names_failure_kinds_and_scenarios_as_people_read_them() {
        let json = serde_json::to_value(sample::report()).unwrap();
        let rest = &json["scenarios"][0];
        assert_eq!(rest["scenario"], "rest");
        assert_eq!(rest["failures"]["http 503"], 1);
        assert_eq!(rest["requests_ok"], 100);
        assert_eq!(rest["requests_per_s"], 10.0);
        assert_eq!(json["settings"]["load"]["model"], "closed");
        assert!(rest["first_book_ms"].is_null());
        assert!(json["scenarios"][2]["first_book_ms"]["p50"].is_number());
    }

    #[test]
    fn files_are_written_where_asked() {
        let dir = tempfile::tempdir().unwrap();
        let (json, csv, svg) = (
            dir.path().join("r.json"),
            dir.path().join("r.csv"),
            dir.path().join("r.svg"),
        );
        sample::report()
            .write_files(Some(&json), Some(&csv), Some(&svg))
            .unwrap();
        for path in [json, csv, svg] {
            assert!(std::fs::metadata(&path).unwrap().len() > 100, "{path:?}");
        }
    }
}
