//! The run pages: one run live (progress, rate, time left, a Stop button),
//! the same page once the run has ended (the summary and its report), and
//! the list of every run. maud escapes every value.
//!
//! The live view updates from the run's event stream; without JavaScript
//! it reloads itself every second, and still ends on the summary.

use bookstream::display::thousands;
use maud::{Markup, PreEscaped, html};

use super::{
    chart,
    live::Snapshot,
    record::{Outcome, RunRecord},
};
use crate::webpage;

/// A running run: its progress as of `snapshot`, updated live.
pub fn live(record: &RunRecord, snapshot: &Snapshot) -> Markup {
    if let Some(from) = &record.follow
        && record.requested == 0
    {
        return live_follow(record, snapshot, from);
    }
    let id = record.id;
    webpage::layout_with_head(
        &format!("Run {id}: running"),
        html! {
            // Without JavaScript the page reloads itself until the run has ended.
            noscript { meta http-equiv="refresh" content="1"; }
        },
        html! {
            h1 { "Run " (id) ": " span #received { (thousands(snapshot.received)) } " of "
                 span #expected { (thousands(snapshot.expected)) } " books" }
            p #outcome data-outcome="running" { "Running" }
            progress #progress value=(snapshot.received) max=(snapshot.expected.max(1)) {
                (format!("{:.0}%", snapshot.percent))
            }
            table .live {
                tr { th { "Done" } td #percent { (format!("{:.1}", snapshot.percent)) "%" } }
                tr { th { "Rate" } td { span #rate { (thousands(snapshot.books_per_sec as u64)) } " books/s" } }
                tr { th { "Time left" } td #eta { (eta(snapshot.eta_ms)) } }
                tr { th { "Elapsed" } td #elapsed { (format!("{:.1} s", snapshot.elapsed_ms as f64 / 1000.0)) } }
                tr { th { "User" } td { (record.user_id) } }
                tr { th { "File" } td { code { (record.file) } } }
            }
            form #stop method="post" action={ "/runs/" (id) "/cancel" } {
                button type="submit" { "Stop" }
            }
            p { a href="/runs" { "All runs" } }
            script { (PreEscaped(LIVE_SCRIPT.replace("RUN_ID", &id.to_string()))) }
        },
    )
}

/// A follow with no end: no percentage or time left it cannot know; the
/// books so far, their rate, how long since the last one, and Stop.
fn live_follow(record: &RunRecord, snapshot: &Snapshot, from: &str) -> Markup {
    let id = record.id;
    webpage::layout_with_head(
        &format!("Run {id}: following"),
        html! {
            noscript { meta http-equiv="refresh" content="1"; }
        },
        html! {
            h1 { "Run " (id) ": " span #received { (thousands(snapshot.received)) } " books so far" }
            p #outcome data-outcome="running" {
                "Following user " (record.user_id) "'s list from " (from) ": each book appended arrives here and in the file."
            }
            table .live {
                tr { th { "Rate" } td { span #rate { (thousands(snapshot.books_per_sec as u64)) } " books/s" } }
                tr { th { "Since the last book" } td #since { (since(snapshot.since_last_book_ms)) } }
                tr { th { "Lag (commit to file)" } td #lag { (lag(snapshot.lag_ms)) } }
                tr { th { "Elapsed" } td #elapsed { (format!("{:.1} s", snapshot.elapsed_ms as f64 / 1000.0)) } }
                tr { th { "File (growing)" } td { code { (record.file) } } }
            }
            form #stop method="post" action={ "/runs/" (id) "/cancel" } {
                button type="submit" { "Stop" }
            }
            p { a href="/runs" { "All runs" } }
            script { (PreEscaped(LIVE_SCRIPT.replace("RUN_ID", &id.to_string()))) }
        },
    )
}

fn lag(ms: Option<u64>) -> String {
    ms.map_or_else(
        || "no appended book yet".to_owned(),
        |ms| format!("{ms} ms"),
    )
}

fn since(ms: Option<u64>) -> String {
    ms.map_or_else(
        || "no book yet".to_owned(),
        |ms| format!("{:.1} s", ms as f64 / 1000.0),
    )
}

/// Updates the live view from the run's events; reloads it into the summary at the end.
const LIVE_SCRIPT: &str = r#"
(function () {
  const events = new EventSource("/runs/RUN_ID/events");
  const text = (id, value) => { const node = document.getElementById(id); if (node) node.textContent = value; };
  const number = (value) => Math.round(value).toLocaleString("en-US");
  events.addEventListener("progress", (event) => {
    const p = JSON.parse(event.data);
    const bar = document.getElementById("progress");
    bar.max = Math.max(p.expected, 1);
    bar.value = p.received;
    text("received", number(p.received));
    text("expected", number(p.expected));
    text("percent", p.percent.toFixed(1) + "%");
    text("rate", number(p.books_per_sec));
    text("eta", p.eta_ms == null ? "–" : (p.eta_ms / 1000).toFixed(1) + " s");
    text("since", p.since_last_book_ms == null ? "no book yet" : (p.since_last_book_ms / 1000).toFixed(1) + " s");
    text("lag", p.lag_ms == null ? "no appended book yet" : p.lag_ms + " ms");
    text("elapsed", (p.elapsed_ms / 1000).toFixed(1) + " s");
  });
  events.addEventListener("end", () => { events.close(); window.location.reload(); });
})();
"#;

/// A run that has ended: today's result page, and its report.
pub fn finished(record: &RunRecord) -> Markup {
    let id = record.id;
    let outcome = record.outcome;
    webpage::layout(
        &format!("Run {id}: {}", outcome.name()),
        html! {
            h1 .{ "outcome-" (outcome.name()) } {
                "Run " (id) ": " (headline(record))
            }
            p #outcome data-outcome=(outcome.name()) { (outcome_words(record)) }
            @if outcome == Outcome::Complete && record.received < record.requested {
                p .note {
                    "User " (record.user_id) " has " (thousands(record.received))
                    " recommendations, fewer than the " (thousands(record.requested))
                    " asked for: all of them were received."
                }
            }
            table #summary {
                tr { th { "User" } td { (record.user_id) } }
                @if let Some(from) = &record.follow {
                    tr { th { "Followed from" } td { (from) } }
                }
                @if record.follow.is_none() || record.requested > 0 {
                    tr { th { "Requested" } td { (thousands(record.requested)) } }
                }
                tr { th { "Received" } td { (thousands(record.received)) } }
                tr { th { "Started" } td { (record.started_at) } }
                tr { th { "Elapsed" } td { (seconds(record.elapsed_ms)) } }
                tr { th { "Rate" } td { (thousands(record.books_per_sec as u64)) " books/s" } }
                tr { th { "Retries" } td { (record.retries) } }
                tr { th { "File" } td #file { (file_cell(record)) } }
            }
            @if !record.preview.is_empty() {
                h2 { "First books" }
                table {
                    tr { th { "#" } th { "Title" } th { "Author" } th { "Year" } }
                    @for book in &record.preview {
                        tr { td { (book.id) } td { (book.title) } td { (book.author) } td { (book.year) } }
                    }
                }
            }
            h2 { "Throughput" }
            div #chart {
                @match chart::throughput_svg(&record.samples, record.elapsed_ms) {
                    Some(svg) => (PreEscaped(svg)),
                    None => p { "No books arrived: nothing to chart." },
                }
            }
            p #first-book {
                "First book after "
                @match record.first_book_ms {
                    Some(ms) => (seconds(ms)),
                    None => "– (none arrived)",
                }
            }
            h2 { "Attempts" }
            table #attempts {
                tr { th { "#" } th { "Server" } th { "First rank" } th { "Books" } th { "Ended" } }
                @for (index, attempt) in record.attempts.iter().enumerate() {
                    tr {
                        td { (index + 1) } td { code { (attempt.server) } }
                        td { (thousands(attempt.first_rank)) } td { (thousands(attempt.books)) }
                        td { (attempt.ended) }
                    }
                }
            }
            h2 { "Settings" }
            table #settings {
                tr { th { "Format" } td { (record.settings.format) } }
                tr { th { "Servers" } td { code { (record.settings.servers) } } }
                tr { th { "Retries" } td { (record.settings.retries) " (backoff from " (record.settings.retry_backoff_ms) " ms)" } }
                tr { th { "Idle timeout" } td { (seconds(record.settings.idle_timeout_ms)) } }
            }
            p { a href="/runs" { "All runs" } " · " a href="/" { "Start another" } }
        },
    )
}

/// Every run, newest first.
pub fn list(runs: &[RunRecord]) -> Markup {
    webpage::layout(
        "Runs",
        html! {
            h1 { "Runs" }
            p { (runs.len()) @if runs.len() == 1 { " run. " } @else { " runs, newest first. " }
                a href="/runs?format=csv" { "Download as CSV" } " · " a href="/" { "Start a run" } }
            table #runs {
                tr {
                    th { "Run" } th { "Started" } th { "User" } th { "Received" } th { "Outcome" }
                    th { "Elapsed" } th { "Rate" } th { "Retries" } th { "File" }
                }
                @for run in runs {
                    tr .run data-id=(run.id) data-outcome=(run.outcome.name()) {
                        td { a href={ "/runs/" (run.id) } { (run.id) } }
                        td { (run.started_at) }
                        td { (run.user_id) }
                        @if run.follow.is_some() && run.requested == 0 {
                            td { (thousands(run.received)) " (follow)" }
                        } @else {
                            td { (thousands(run.received)) " / " (thousands(run.requested)) }
                        }
                        td .outcome { (run.outcome.name()) }
                        td { (seconds(run.elapsed_ms)) }
                        td { (thousands(run.books_per_sec as u64)) " books/s" }
                        td { (run.retries) }
                        td { code { (run.file) } }
                    }
                }
            }
        },
    )
}

fn headline(record: &RunRecord) -> String {
    match record.outcome {
        Outcome::Complete => format!("{} books received", thousands(record.received)),
        Outcome::Partial => format!(
            "stream interrupted after {} books",
            thousands(record.received)
        ),
        Outcome::Cancelled => format!("stopped after {} books", thousands(record.received)),
        Outcome::Stopped => format!("followed {} books", thousands(record.received)),
        Outcome::Failed => "failed".to_owned(),
        Outcome::Running => "running".to_owned(),
    }
}

fn outcome_words(record: &RunRecord) -> String {
    let reason = record.error.as_deref().unwrap_or_default();
    match record.outcome {
        Outcome::Complete => "Complete: every book is in the file.".to_owned(),
        Outcome::Partial => format!(
            "Partial: {reason}. The books that arrived are in the .partial file; the previous complete file was left untouched."
        ),
        Outcome::Cancelled => {
            "Cancelled: stopped by request. The books that arrived are in the .partial file."
                .to_owned()
        }
        Outcome::Stopped => {
            "Stopped: the follow was stopped by request. Every book that arrived is in the file, in order."
                .to_owned()
        }
        Outcome::Failed => format!("Failed: {reason}"),
        Outcome::Running => "Running".to_owned(),
    }
}

fn file_cell(record: &RunRecord) -> Markup {
    let shown = match record.outcome {
        Outcome::Complete | Outcome::Stopped => record.file.clone(),
        Outcome::Partial | Outcome::Cancelled => format!("{}.partial", record.file),
        _ => return html! { "none" },
    };
    html! {
        code { (shown) } " · " a href={ "/runs/" (record.id) "/file" } { "Download" }
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.3} s", ms as f64 / 1000.0)
}

fn eta(eta_ms: Option<u64>) -> String {
    eta_ms.map_or_else(
        || "–".to_owned(),
        |ms| format!("{:.1} s", ms as f64 / 1000.0),
    )
}
