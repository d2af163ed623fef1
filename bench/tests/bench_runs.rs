//! The benchmark itself must keep working: a small run on the debug binaries
//! checks the plumbing (processes, files, memory, table), not the targets.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use bookstream_bench::{BenchOpts, run};
use bookstream_client::sink::Format;

/// Where cargo put this package's binary: the workspace's `server` and
/// `client` are beside it.
fn bin_dir() -> PathBuf {
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_trigger-bench"))
        .parent()
        .unwrap()
        .to_owned();
    for name in ["server", "client"] {
        assert!(
            bin_dir.join(name).exists(),
            "build the workspace first: {name} is missing"
        );
    }
    bin_dir
}

/// Two small sizes, one repeat, files in `work_dir`: no store, no sweep,
/// no baseline.
fn small_opts(work_dir: &Path) -> BenchOpts {
    BenchOpts {
        sizes: vec![100, 2_000],
        format: Format::Csv,
        repeat: 1,
        bin_dir: Some(bin_dir()),
        work_dir: Some(work_dir.to_owned()),
        json: None,
        log: Default::default(),
        baseline_bin_dir: None,
        baseline_env: vec![],
        baseline_max_ratio: 1.03,
        catalog: vec![],
        page_sizes: vec![],
        sweep_books: 2_000,
        instructions_books: 0,
    }
}

#[tokio::test]
async fn a_small_benchmark_measures_every_size_and_verifies_every_file() {
    let work_dir = tempfile::tempdir().unwrap();
    let opts = BenchOpts {
        baseline_env: vec![("BOOKSTREAM_METRICS".to_owned(), "false".to_owned())],
        ..small_opts(work_dir.path())
    };

    let report = run(&opts).await.unwrap();

    assert_eq!(
        report
            .sizes
            .iter()
            .map(|size| size.books)
            .collect::<Vec<_>>(),
        vec![100, 2_000]
    );
    for size in &report.sizes {
        assert!(
            size.floor_seconds > 0.0 && size.trigger_seconds > 0.0,
            "{size:?}"
        );
        assert!(
            size.server_peak_kib > 1000 && size.client_peak_kib > 1000,
            "{size:?}"
        );
    }
    assert!(report.render().contains("| 2,000 |"), "{}", report.render());
    // The baseline (metrics off) ran beside it, size by size.
    assert!(
        report
            .sizes
            .iter()
            .all(|size| size.baseline_seconds.is_some()),
        "{:?}",
        report.sizes
    );
    assert!(
        report.render().contains("trigger / baseline"),
        "{}",
        report.render()
    );
    let leftovers: Vec<_> = std::fs::read_dir(work_dir.path()).unwrap().collect();
    assert!(
        leftovers.is_empty(),
        "verified files are removed: {leftovers:?}"
    );
}

#[tokio::test]
async fn a_store_is_loaded_when_too_shallow_then_measured_beside_the_generated_catalog() {
    let work_dir = tempfile::tempdir().unwrap();
    let store = work_dir.path().join("bench.db");
    let opts = BenchOpts {
        sizes: vec![500, 3_000],
        format: Format::Txt,
        catalog: vec![format!("sqlite:{}", store.display()).parse().unwrap()],
        page_sizes: vec![100, 1_000],
        ..small_opts(work_dir.path())
    };

    let report = run(&opts).await.unwrap();

    assert!(store.exists(), "the store was loaded");
    let measured: Vec<_> = report.stores.iter().map(|store| store.books).collect();
    assert_eq!(measured, vec![500, 3_000]);
    assert!(
        report
            .stores
            .iter()
            .all(|store| store.trigger_seconds > 0.0)
    );
    let swept: Vec<_> = report.sweep.iter().map(|run| run.page_size).collect();
    assert_eq!(swept, vec![100, 1_000]);
    let table = report.render();
    assert!(
        table.contains(&format!("| sqlite:{} | 3,000 |", store.display())),
        "{table}"
    );
    assert!(table.contains("| 1,000 | 2,000 |"), "{table}");
}

#[tokio::test]
async fn instructions_per_book_are_counted_for_each_side_under_callgrind() {
    let work_dir = tempfile::tempdir().unwrap();
    let opts = BenchOpts {
        sizes: vec![100],
        instructions_books: 2_000,
        ..small_opts(work_dir.path())
    };

    let report = run(&opts).await.unwrap();

    let [counted] = report.instructions.as_slice() else {
        panic!(
            "one count for the generated catalog: {:?}",
            report.instructions
        );
    };
    assert_eq!(counted.books, 2_000);
    // A book costs each side hundreds of instructions in a release build,
    // tens of thousands in the debug build the tests run; start-up (hundreds
    // of millions under valgrind) is left out, or each book would carry
    // another hundred thousand.
    for per_book in [counted.server_per_book, counted.client_per_book] {
        assert!((100.0..100_000.0).contains(&per_book), "{counted:?}");
    }
    assert!(
        report.render().contains("instructions/book"),
        "{}",
        report.render()
    );
}
