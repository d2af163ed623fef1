//! `--spawn-server`: the `server` binary as a child process on free ports,
//! read from its readiness line, and killed when the run ends, also when it
//! ends in an error (the child is killed when dropped).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use bookstream::ready;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// How long a starting server may take to print its readiness line.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// The server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(
        "no `server` binary next to {exe}: build it with `cargo build -p bookstream-server` \
         (with --release for a release loadtest) or pass --server-bin"
    )]
    NotFound { exe: String },
    #[error("cannot find the loadtest executable's directory: {0}")]
    CurrentExe(#[source] std::io::Error),
    #[error("cannot start {bin}: {source}")]
    Start { bin: String, source: std::io::Error },
    #[error("{bin} stopped before it was ready ({status})")]
    Exited { bin: String, status: String },
    #[error("{bin} printed no readiness line within {READY_WITHIN:?}")]
    NotReady { bin: String },
}

/// The `server` binary to start: `explicit` if given, else the one beside
/// this executable (`target/<profile>/`), or one directory up for test and
/// bench executables, which live in `target/<profile>/deps/`.
pub fn locate_server(explicit: Option<&Path>) -> Result<PathBuf, SpawnError> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    let exe = std::env::current_exe().map_err(SpawnError::CurrentExe)?;
    let name = format!("server{}", std::env::consts::EXE_SUFFIX);
    exe.parent()
        .into_iter()
        .flat_map(|dir| [Some(dir), dir.parent()])
        .flatten()
        .map(|dir| dir.join(&name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| SpawnError::NotFound {
            exe: exe.display().to_string(),
        })
}

/// A running server child process.
#[derive(Debug)]
pub struct SpawnedServer {
    child: Child,
    grpc_addr: SocketAddr,
    rest_addr: SocketAddr,
}

impl SpawnedServer {
    /// Starts `bin` on free loopback ports and waits for its readiness line.
    pub async fn start(bin: &Path) -> Result<Self, SpawnError> {
        let name = bin.display().to_string();
        let mut child = Command::new(bin)
            .args(["--grpc-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0"])
            // The server logs a line per gRPC request at info; at thousands of
            // requests/s that is CPU the measurement would pay for.
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| SpawnError::Start {
                bin: name.clone(),
                source,
            })?;
        let Some(stdout) = child.stdout.take() else {
            return Err(SpawnError::NotReady { bin: name });
        };
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(READY_WITHIN, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addrs) = ready::parse_line(&line) {
                    return Some(addrs);
                }
            }
            None
        })
        .await;
        let (grpc_addr, rest_addr) = match ready {
            Ok(Some(addrs)) => addrs,
            Ok(None) => {
                let status = match child.wait().await {
                    Ok(status) => status.to_string(),
                    Err(error) => error.to_string(),
                };
                return Err(SpawnError::Exited { bin: name, status });
            }
            Err(_) => return Err(SpawnError::NotReady { bin: name }),
        };
        // Keep reading stdout so a later print never meets a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        tracing::info!(%grpc_addr, %rest_addr, "spawned {name}");
        Ok(Self {
            child,
            grpc_addr,
            rest_addr,
        })
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    pub fn rest_url(&self) -> String {
        format!("http://{}", self.rest_addr)
    }

    /// Kills the server and reaps it.
    pub async fn stop(mut self) {
        if let Err(error) = self.child.kill().await {
            tracing::warn!("stopping the spawned server failed: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_server_binary_is_taken_as_given() {
        let path = Path::new("/opt/bookstream/server");
        assert_eq!(locate_server(Some(path)).unwrap(), path);
    }

    #[tokio::test]
    async fn a_binary_that_exits_without_a_readiness_line_is_reported() {
        let error = SpawnedServer::start(Path::new("true")).await.unwrap_err();
        assert!(matches!(error, SpawnError::Exited { .. }), "{error}");
    }

    #[tokio::test]
    async fn a_missing_binary_cannot_start() {
        let error = SpawnedServer::start(Path::new("/nonexistent/server"))
            .await
            .unwrap_err();
        assert!(matches!(error, SpawnError::Start { .. }), "{error}");
    }
}
