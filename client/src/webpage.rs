//! The HTML a person sees in the browser. maud escapes every value, so titles
//! and paths cannot inject markup.

use std::path::Path;

use bookstream::display::thousands;
use maud::{DOCTYPE, Markup, html};

const STYLE: &str = "
body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { text-align: left; padding: .25rem .75rem .25rem 0; border-bottom: 1px solid #ddd; }
code { background: #f4f4f4; padding: 0 .25rem; }
.failed, .outcome-failed, .outcome-partial { color: #a40000; }
.outcome-cancelled { color: #8a5a00; }
progress { width: 100%; height: 1.5rem; }
#stop button { font-size: 1rem; padding: .4rem 1.2rem; }
#chart svg { max-width: 100%; height: auto; }
.note { background: #fff8e0; padding: .5rem .75rem; }
";

/// What the landing page says about this client's configuration.
#[derive(Debug, Clone, Copy)]
pub struct IndexInfo<'a> {
    pub server: &'a str,
    pub output: &'a Path,
    pub format: &'a str,
    pub max_n: u64,
}

/// `GET /`: how to use the trigger, with example links.
pub fn index(info: IndexInfo<'_>) -> Markup {
    layout(
        "Bookstream client",
        html! {
            h1 { "Bookstream client" }
            p {
                "Open " code { "/<n>" } " to stream " em { "n" } " book recommendations from the server at "
                code { (info.server) } " into " code { (info.output.display()) }
                " (format " code { (info.format) } "). Add " code { "?user_id=<id>" }
                " for another user's recommendations (default 1)."
            }
            ul {
                @for n in [10u64, 1_000, 100_000, 1_000_000] {
                    @if n <= info.max_n {
                        li { a href={ "/" (n) } { (thousands(n)) " books" } }
                    }
                }
                li { a href="/1000?user_id=42" { "1,000 books for user 42" } }
            }
            p { "Up to " (thousands(info.max_n)) " books per request. A browser is sent to the run's live page; any other caller (curl, whose " code { "Accept" } " is " code { "*/*" } ", or " code { "Accept: application/json" } ") waits and gets a JSON answer." }
            p { "Every run is watched live, can be stopped, and is kept: " a href="/runs" { "all runs" } "." }
        },
    )
}

/// The answer to a request that failed; says what arrived and where it is.
pub fn failure(
    title: &str,
    message: &str,
    received: Option<u64>,
    partial_file: Option<&Path>,
) -> Markup {
    layout(
        title,
        html! {
            h1 .failed { (title) }
            p { (message) }
            @if let Some(received) = received {
                p { (thousands(received)) " books arrived before the stream stopped." }
            }
            @if let Some(partial) = partial_file {
                p { "They were kept in " code { (partial.display()) } "; the previous complete file was left untouched." }
            }
            p { a href="/" { "Back" } }
        },
    )
}

/// Whether the caller is a browser, which wants pages rather than JSON.
pub fn wants_html(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("text/html"))
}

/// A page of the client, titled `title`.
pub(crate) fn layout(title: &str, body: Markup) -> Markup {
    layout_with_head(title, html! {}, body)
}

/// A page with `head` added to its head.
pub(crate) fn layout_with_head(title: &str, head: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Bookstream" }
                style { (STYLE) }
                (head)
            }
            body { (body) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let page = failure("Bad <request>", "<script>alert(1)</script>", None, None).into_string();
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;"), "{page}");
    }
}
