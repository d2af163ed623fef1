//! Starting a real Bookstream binary the way a person does, and waiting for
//! the readiness line it prints on stdout once it listens.

use std::{path::Path, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// Generous: a cold debug binary on a loaded 2-core machine can be slow to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A binary to start: its arguments, environment and limits.
#[derive(Debug)]
pub struct Launch {
    command: Command,
    name: String,
}

impl Launch {
    /// The binary at `path`, with no stderr and stdout read for readiness.
    pub fn new(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        let mut command = Command::new(path);
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        Self {
            command,
            name: path.display().to_string(),
        }
    }

    pub fn args<'a>(mut self, args: impl IntoIterator<Item = &'a str>) -> Self {
        self.command.args(args);
        self
    }

    pub fn envs<'a>(mut self, envs: impl IntoIterator<Item = &'a (&'a str, &'a str)>) -> Self {
        self.command.envs(envs.into_iter().copied());
        self
    }

    pub fn env_remove(mut self, name: &str) -> Self {
        self.command.env_remove(name);
        self
    }

    pub fn stderr(mut self, stderr: Stdio) -> Self {
        self.command.stderr(stderr);
        self
    }

    /// At most `descriptors` open files (soft and hard limit), as under `ulimit -n`.
    pub fn descriptors(mut self, descriptors: u64) -> Self {
        crate::slowloris::limit_descriptors(&mut self.command, descriptors);
        self
    }

    /// Starts the binary and waits for its line that starts with `prefix`.
    pub async fn ready(mut self, prefix: &str) -> (Child, String) {
        let name = self.name;
        let mut child = self
            .command
            .spawn()
            .unwrap_or_else(|error| panic!("{name} does not start: {error}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await.expect("stdout is readable") {
                if line.starts_with(prefix) {
                    return line;
                }
            }
            panic!("{name} exited before it was ready");
        })
        .await
        .unwrap_or_else(|_| panic!("{name} was not ready within {START_TIMEOUT:?}"));
        (child, line)
    }
}
