//! One CSV row per scenario, for spreadsheets and plotting elsewhere.

use std::io;

use super::Report;
use crate::stats::Percentiles;

const PERCENTILES: [&str; 8] = ["min", "mean", "p50", "p90", "p95", "p99", "p99_9", "max"];

/// Writes a header and one row per scenario. Failure kinds vary from run to
/// run, so they share one column as `kind=count` pairs.
pub fn write_csv(report: &Report, out: impl io::Write) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    let mut header: Vec<String> = [
        "scenario",
        "requests_ok",
        "requests_failed",
        "failures",
        "cut_at_end",
        "late",
        "not_sent",
        "elapsed_s",
        "requests_per_s",
        "books_per_s",
        "response_bytes_per_s",
    ]
    .map(str::to_owned)
    .to_vec();
    for prefix in ["latency_ms", "first_book_ms"] {
        header.extend(PERCENTILES.map(|p| format!("{prefix}_{p}")));
    }
    header.push("stream_books_per_s_p50".to_owned());
    writer.write_record(&header)?;

    for s in &report.scenarios {
        let failures: Vec<String> = s
            .failures
            .iter()
            .map(|(kind, n)| format!("{kind}={n}"))
            .collect();
        let optional = |value: Option<u64>| value.map(|v| v.to_string()).unwrap_or_default();
        let mut record = vec![
            s.scenario.to_string(),
            s.requests_ok.to_string(),
            s.requests_failed.to_string(),
            failures.join(";"),
            s.cut_at_end.to_string(),
            optional(s.late),
            optional(s.not_sent),
            format!("{:.3}", s.elapsed_s),
            format!("{:.3}", s.requests_per_s),
            format!("{:.1}", s.books_per_s),
            format!("{:.0}", s.response_bytes_per_s),
        ];
        for percentiles in [&s.latency_ms, &s.first_book_ms] {
            record.extend(cells(percentiles.as_ref()));
        }
        record.push(
            s.stream_books_per_s
                .map(|p| format!("{:.0}", p.p50))
                .unwrap_or_default(),
        );
        writer.write_record(&record)?;
    }
    writer.flush()
}

fn cells(percentiles: Option<&Percentiles>) -> Vec<String> {
    match percentiles {
        Some(p) => [p.min, p.mean, p.p50, p.p90, p.p95, p.p99, p.p99_9, p.max]
            .map(|value| format!("{value:.3}"))
            .to_vec(),
        None => vec![String::new(); PERCENTILES.len()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn each_scenario_is_one_row_as_wide_as_the_header() {
        let mut out = Vec::new();
        write_csv(&sample::report(), &mut out).unwrap();
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let width = reader.headers().unwrap().len();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 4);
        assert!(rows.iter().all(|row| row.len() == width));
        assert_eq!(&rows[0][0], "rest");
        assert_eq!(&rows[0][3], "http 503=1");
        assert_eq!(&rows[0][1], "100");
    }
}
