//! The `client` binary as a newcomer meets it: its help and a port that is taken.

use std::process::Output;
use std::time::Duration;

async fn client(args: &[&str]) -> Output {
    // The client keeps its history beside its output, in its directory.
    let dir = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_client"))
        .args(args)
        .current_dir(dir.path())
        .env_remove("BOOKSTREAM_OUTPUT")
        .env_remove("BOOKSTREAM_HISTORY")
        .env_remove("BOOKSTREAM_LISTEN")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the client ends by itself")
        .expect("the client binary runs")
}

#[tokio::test]
async fn the_help_shows_every_output_placeholder() {
    let help = client(&["--help"]).await;
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    let output = help
        .split("--output <OUTPUT>")
        .nth(1)
        .and_then(|rest| rest.split("\n      --").next())
        .expect("--output is in the help");
    for placeholder in ["`{run}`", "`{user}`", "`{n}`"] {
        assert!(output.contains(placeholder), "{placeholder}: {output}");
    }
    // Neither broken into lines nor carrying terminal codes into a pipe.
    assert!(!output.contains('\x1b'), "{output:?}");
    assert!(output.contains("and `{n}` give"), "{output}");
}

#[tokio::test]
async fn a_taken_port_is_named_with_the_flag_that_moves_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let output = client(&["--listen", &taken]).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "cannot listen on {taken} (choose another address with --listen)"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.matches("in use").count(), 1, "{stderr}");
}
