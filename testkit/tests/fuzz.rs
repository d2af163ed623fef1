//! Runs each fuzz target of `fuzz/` briefly on its committed corpus, so a
//! parser change that breaks a property found by fuzzing fails the tests.
//! Needs the nightly toolchain and cargo-fuzz (`.ci/run` installs
//! cargo-fuzz); without them the test is skipped, or fails under CI.
//! Long runs are by hand: `cargo +nightly fuzz run <target>` in the repo root.

use std::{path::PathBuf, process::Command};

const TARGETS: [&str; 4] = [
    "wire_decode",
    "trigger_input",
    "history_lines",
    "request_head",
];
/// Seconds per target: enough to replay the corpus and explore a little.
const SECONDS_EACH: u32 = 20;

fn cargo_fuzz(root: &PathBuf) -> Command {
    let mut command = Command::new("cargo");
    command
        .current_dir(root)
        .arg("+nightly")
        .arg("fuzz")
        // The outer cargo's choices are not the fuzz build's.
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    command
}

#[test]
fn every_fuzz_target_holds_on_its_corpus_and_a_short_run() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives in the workspace")
        .to_owned();
    let available = cargo_fuzz(&root)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !available {
        assert!(
            !bookstream_testkit::required("FUZZ"),
            "cargo +nightly fuzz is not available (install cargo-fuzz and the nightly toolchain)"
        );
        eprintln!("skipped: cargo +nightly fuzz is not available");
        return;
    }
    let built = cargo_fuzz(&root)
        .arg("build")
        .output()
        .expect("cargo fuzz runs");
    assert!(
        built.status.success(),
        "the fuzz targets do not build:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    for target in TARGETS {
        // New inputs go to a scratch directory; the committed corpus is only read.
        let scratch = tempfile::tempdir().expect("a scratch corpus");
        let run = cargo_fuzz(&root)
            .args(["run", target])
            .arg(scratch.path())
            .arg(root.join("fuzz/corpus").join(target))
            .arg("--")
            .arg(format!("-max_total_time={SECONDS_EACH}"))
            .output()
            .expect("cargo fuzz runs");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            run.status.success(),
            "{target} found a failure:\n{}",
            stderr.lines().rev().take(40).collect::<Vec<_>>().join("\n")
        );
    }
}
