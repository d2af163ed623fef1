//! A real browser (headless Chromium) opens the client's pages.
//!
//! Needs Debian's `chromium` (`.ci/run` installs it). Without it the test says
//! so and passes, unless `CI` or `BOOKSTREAM_REQUIRE_BROWSER` is set, where a
//! missing browser is a failure.

use std::{path::PathBuf, process::Stdio, time::Duration};

use tokio::process::Command;

use bookstream_testkit::{browser::find_chromium, required};

use crate::support::{spawn_client, spawn_server};

/// The DOM of `url` after Chromium has loaded and rendered it.
async fn rendered_dom(chromium: &PathBuf, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        // Time for a live run page to hear its end and reload into the summary.
        .arg("--virtual-time-budget=10000")
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), output)
        .await
        .expect("chromium rendered the page within two minutes")
        .expect("chromium starts");
    assert!(
        output.status.success(),
        "chromium failed: {:?}",
        output.status
    );
    String::from_utf8(output.stdout).unwrap()
}

/// How the browser serialises text it shows.
fn as_html_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[tokio::test]
async fn chromium_renders_the_landing_page_and_a_run_of_250_books() {
    let Some(chromium) = find_chromium() else {
        assert!(
            !required("BROWSER"),
            "chromium is not installed (apt-get install -y chromium)"
        );
        eprintln!("skipping the browser test: chromium is not installed");
        return;
    };
    let server = spawn_server().await;
    let client = spawn_client(&server.url()).await;

    let landing = rendered_dom(&chromium, &client.url("/")).await;
    assert!(landing.contains("<h1>Bookstream client</h1>"), "{landing}");
    assert!(landing.contains(r#"href="/1000""#), "{landing}");

    let page = rendered_dom(&chromium, &client.url("/250?user_id=5")).await;
    assert!(page.contains("250 books received"), "{page}");
    assert!(
        page.contains(&as_html_text(client.output.to_str().unwrap())),
        "{page}"
    );
    for book in bookstream::catalog::books(5, 0..5) {
        assert!(
            page.contains(&as_html_text(&book.title)),
            "{} missing from {page}",
            book.title
        );
    }
    let written = std::fs::read_to_string(&client.output).unwrap();
    assert_eq!(written.lines().count(), 250);

    let error = rendered_dom(&chromium, &client.url("/abc")).await;
    assert!(error.contains("is not a number of books"), "{error}");
}
