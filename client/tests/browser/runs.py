"""A person watches, stops, reviews and downloads runs in a real browser.

    python runs.py BASE_URL SCREENSHOT_DIR

BASE_URL is a running trigger client (``http://127.0.0.1:PORT``) whose server
streams the generated catalog. The script drives Debian's Chromium (or the one
``BOOKSTREAM_CHROMIUM`` names) headless through Playwright:

  a. starts a run of 5,000,000 books, watches the live view move and waits
     for the page to turn itself into the summary of a complete run;
  b. starts a second run and stops it with the Stop button;
  c. finds both runs in the run list;
  d. opens the first run's report (chart, first book), downloads its file.

It writes ``run-live.png`` and ``run-report.png`` into SCREENSHOT_DIR and
exits non-zero on the first failed check.
"""

import os
import re
import sys
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

BOOKS = 5_000_000
VIEWPORT = {"width": 1280, "height": 800}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUN_URL = re.compile(r"/runs/(\d+)$")

# The live view's progress bar, as the page's script last set it.
PROGRESS = """() => {
    const bar = document.getElementById("progress");
    if (!bar) return null;
    return {value: Number(bar.getAttribute("value")), max: Number(bar.getAttribute("max"))};
}"""


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def step(text):
    print(text, flush=True)


def start_run(page: Page, base: str) -> str:
    """Opens BASE/5000000 as a browser would; returns the run's id."""
    page.goto(f"{base}/{BOOKS}")
    match = RUN_URL.search(page.url)
    check(match, f"GET /{BOOKS} should land on /runs/<id>, landed on {page.url}")
    return match.group(1)


def progress(page: Page):
    return page.evaluate(PROGRESS)


def wait_until_live(page: Page, run: str):
    """Waits until the live view shows some but not all books."""
    page.wait_for_function(
        """() => {
            const bar = document.getElementById("progress");
            if (!bar) return false;
            const value = Number(bar.getAttribute("value"));
            return 0 < value && value < Number(bar.getAttribute("max"));
        }""",
        timeout=30_000,
    )
    now = progress(page)
    check(now is not None, f"run {run}: the live view lost its progress bar")
    return now


def outcome(page: Page):
    return page.get_attribute("#outcome", "data-outcome")


def summary_row(page: Page, label: str) -> str:
    return page.locator(f'table#summary tr:has(th:text-is("{label}")) td').inner_text()


def watch_a_run_to_completion(page: Page, base: str, shots: Path) -> str:
    run = start_run(page, base)
    first = wait_until_live(page, run)
    check(
        first["max"] == BOOKS,
        f"run {run}: the progress bar's max should be {BOOKS}, is {first['max']}",
    )
    # The page must move on its own while books arrive: wait for the bar to
    # pass where it was, with a deadline rather than a fixed pause, so a slow
    # or loaded machine is not mistaken for a frozen page.
    before = progress(page)
    check(before is not None, f"run {run}: the run ended before its progress could be read")
    started = time.monotonic()
    page.wait_for_function(
        """(before) => {
            const bar = document.getElementById("progress");
            return !bar || Number(bar.getAttribute("value")) > before;
        }""",
        arg=before["value"],
        timeout=30_000,
    )
    moved_after = time.monotonic() - started
    after = progress(page)
    check(
        after is not None,
        f"run {run}: the run ended before its progress could be read twice",
    )
    check(
        after["value"] > before["value"],
        f"run {run}: the progress bar did not move "
        f"({before['value']} then {after['value']})",
    )
    check(
        outcome(page) == "running",
        f"run {run}: expected the live view before the screenshot",
    )
    page.screenshot(path=str(shots / "run-live.png"))
    check(
        page.url.endswith(f"/runs/{run}") and progress(page) is not None,
        f"run {run}: the run ended while the live view was being photographed",
    )
    step(
        f"a. run {run} is live: {before['value']:,} then {after['value']:,} "
        f"of {BOOKS:,} books, {moved_after:.2f} s apart; screenshot taken"
    )

    page.wait_for_selector('#outcome[data-outcome="complete"]', timeout=120_000)
    received = summary_row(page, "Received")
    check(
        received == f"{BOOKS:,}",
        f"run {run}: the summary should show {BOOKS:,} received, shows {received!r}",
    )
    step(f"a. run {run} completed on its own: {received} books received")
    return run


def stop_a_run(page: Page, base: str) -> str:
    run = start_run(page, base)
    wait_until_live(page, run)
    page.click("#stop button")
    page.wait_for_selector('#outcome[data-outcome="cancelled"]', timeout=10_000)
    check(
        page.url.endswith(f"/runs/{run}"),
        f"run {run}: Stop should lead back to /runs/{run}, led to {page.url}",
    )
    received = summary_row(page, "Received")
    count = int(received.replace(",", ""))
    check(
        0 < count < BOOKS,
        f"run {run}: a stopped run should show fewer than {BOOKS:,} received, shows {received!r}",
    )
    step(f"b. run {run} stopped by the Stop button after {received} books")
    return run


def list_runs(page: Page, base: str, complete: str, cancelled: str):
    page.goto(f"{base}/runs")
    rows = page.locator("table#runs tr.run")
    check(rows.count() >= 2, f"/runs should list at least two runs, lists {rows.count()}")
    for run, expected in [(complete, "complete"), (cancelled, "cancelled")]:
        row = page.locator(f'table#runs tr.run[data-id="{run}"]')
        check(row.count() == 1, f"/runs should list run {run} once, lists it {row.count()} times")
        shown = row.get_attribute("data-outcome")
        check(shown == expected, f"/runs should show run {run} as {expected}, shows {shown!r}")
    step(f"c. /runs lists {rows.count()} runs: {complete} complete, {cancelled} cancelled")


def review_and_download(page: Page, base: str, run: str, shots: Path):
    page.goto(f"{base}/runs/{run}")
    check(outcome(page) == "complete", f"run {run}: its page should show it complete")
    chart = page.locator("#chart svg")
    check(chart.count() == 1, f"run {run}: the report should hold one chart, holds {chart.count()}")
    check(chart.is_visible(), f"run {run}: the chart is not visible")
    box = chart.bounding_box()
    check(
        box is not None and box["width"] > 100 and box["height"] > 50,
        f"run {run}: the chart is drawn too small to read: {box}",
    )
    first_book = page.inner_text("#first-book")
    check(
        "First book after" in first_book,
        f"run {run}: #first-book should say when the first book came, says {first_book!r}",
    )
    page.screenshot(path=str(shots / "run-report.png"), full_page=True)
    step(f"d. run {run}'s report has a chart and {first_book!r}; screenshot taken")

    with page.expect_download(timeout=120_000) as download_info:
        page.click("#file a:text-is('Download')")
    download = download_info.value
    check(
        download.suggested_filename == f"books-{run}.txt",
        f"run {run}: the download should be named books-{run}.txt, "
        f"is {download.suggested_filename!r}",
    )
    path = download.path()
    check(path is not None, f"run {run}: the download failed: {download.failure()}")
    with open(path, "rb") as file:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))
    check(lines == BOOKS, f"run {run}: the downloaded file has {lines:,} lines, not {BOOKS:,}")
    step(f"d. run {run}'s file downloads as {download.suggested_filename}: {lines:,} lines")


def main():
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} BASE_URL SCREENSHOT_DIR")
    base = sys.argv[1].rstrip("/")
    shots = Path(sys.argv[2])
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("BOOKSTREAM_CHROMIUM", "/usr/bin/chromium"),
            args=CHROMIUM_ARGS,
        )
        try:
            context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(30_000)
            complete = watch_a_run_to_completion(page, base, shots)
            cancelled = stop_a_run(page, base)
            list_runs(page, base, complete, cancelled)
            review_and_download(page, base, complete, shots)
        finally:
            browser.close()
    print("all browser checks passed", flush=True)


if __name__ == "__main__":
    main()
