//! A person in a real browser (Playwright driving headless Chromium) watches
//! a run, stops another, finds both in the run list, reviews the first one's
//! report and downloads its file: `client/tests/browser/runs.py`.
//!
//! Needs Python with Playwright (`pip install -r
//! client/tests/browser/requirements.txt`; `BOOKSTREAM_PLAYWRIGHT_PYTHON`
//! names that Python, else `python3`) and Debian's `chromium`
//! (`BOOKSTREAM_CHROMIUM`, else found on `PATH`). Without them the test says
//! so and passes, unless `CI` or `BOOKSTREAM_REQUIRE_BROWSER` is set, where
//! either missing is a failure.

use std::{ffi::OsString, path::Path, process::Stdio, time::Duration};

use bookstream_client::ClientConfig;
use tokio::process::Command;

use bookstream_testkit::{browser::find_chromium, required};

use crate::support::{spawn_client_with, spawn_server};

const INSTALL: &str = "pip install -r client/tests/browser/requirements.txt \
     (then set BOOKSTREAM_PLAYWRIGHT_PYTHON to that Python) and apt-get install -y chromium";

/// A Python that can `import playwright`.
async fn find_playwright_python() -> Option<OsString> {
    let python =
        std::env::var_os("BOOKSTREAM_PLAYWRIGHT_PYTHON").unwrap_or_else(|| "python3".into());
    let status = Command::new(&python)
        .args(["-c", "import playwright"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .ok()?;
    status.success().then_some(python)
}

fn assert_non_empty_png(path: &Path) {
    let size = std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("no screenshot {}: {error}", path.display()))
        .len();
    assert!(size > 0, "the screenshot {} is empty", path.display());
}

#[tokio::test]
async fn a_person_watches_stops_reviews_and_downloads_runs_in_a_real_browser() {
    let (python, chromium) = match (find_playwright_python().await, find_chromium()) {
        (Some(python), Some(chromium)) => (python, chromium),
        (python, chromium) => {
            let missing = match (python, chromium) {
                (None, None) => "Python's playwright package and chromium are",
                (None, Some(_)) => "Python's playwright package is",
                (Some(_), _) => "chromium is",
            };
            assert!(!required("BROWSER"), "{missing} not installed: {INSTALL}");
            eprintln!("skipping the Playwright browser test: {missing} not installed; {INSTALL}");
            return;
        }
    };

    let server = spawn_server().await;
    let client = spawn_client_with(&server.url(), |config| ClientConfig {
        output: config.output.with_file_name("books-{run}.txt"),
        ..config
    })
    .await;
    let screenshots = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/runs.py");

    let output = Command::new(&python)
        .arg(&script)
        .arg(format!("http://{}", client.addr))
        .arg(screenshots.path())
        .env("BOOKSTREAM_CHROMIUM", &chromium)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), output)
        .await
        .expect("the browser script finished within five minutes")
        .expect("the browser script starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} failed ({:?})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        script.display(),
        output.status
    );
    eprintln!("{stdout}");

    assert_non_empty_png(&screenshots.path().join("run-live.png"));
    assert_non_empty_png(&screenshots.path().join("run-report.png"));
}
