//! `--spawn-server` starts a binary, reads its readiness line, runs against
//! the addresses it names and kills it at the end.

use std::os::unix::fs::PermissionsExt;

use bookstream::ready;

use crate::support::{opts, run_one, spawn_server};

#[tokio::test]
async fn a_spawned_server_is_found_by_its_readiness_line_and_stopped_at_the_end() {
    // A stand-in binary: announces the in-process server's addresses, then
    // waits to be killed, leaving its pid behind to check that it was.
    let server = spawn_server().await;
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let script = dir.path().join("server");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ > {}\necho 'starting'\necho '{}'\nexec sleep 60\n",
            pid_file.display(),
            ready::format_line(server.grpc_addr, server.rest_addr)
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut opts = opts(&server, "rest", &["--run-time", "300ms", "--spawn-server"]);
    // Wrong on purpose: the readiness line, not these flags, must be used.
    opts.rest = "http://127.0.0.1:1".to_owned();
    opts.server_bin = Some(script);
    let report = run_one(opts).await;
    assert!(report.requests_ok > 0, "{report:#?}");
    assert_eq!(report.requests_failed, 0, "{report:#?}");

    // Killed and reaped before run returned: its /proc entry is gone.
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let proc_dir = std::path::Path::new("/proc").join(pid.trim());
    assert!(
        !proc_dir.exists(),
        "the spawned server {} is still running",
        pid.trim()
    );
}
