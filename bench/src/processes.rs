//! The real binaries, started on free ports, watched for peak memory.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A started binary; killed when dropped.
pub struct Process {
    pub name: &'static str,
    child: Child,
}

impl Process {
    /// Starts `bin_dir/name` and waits for its readiness line, returned with it.
    pub async fn start(
        bin_dir: &Path,
        name: &'static str,
        args: &[&str],
        ready_prefix: &str,
    ) -> anyhow::Result<(Self, String)> {
        let path = bin_dir.join(name);
        let mut child = Command::new(&path)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (build it with cargo build --release)",
                    path.display()
                )
            })?;
        let stdout = child.stdout.take().context("the child's stdout is piped")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if line.starts_with(ready_prefix) {
                    return Ok(line);
                }
            }
            bail!("{name} exited before it was ready")
        })
        .await
        .with_context(|| format!("{name} was not ready within {START_TIMEOUT:?}"))??;
        Ok((Self { name, child }, ready))
    }

    /// Peak resident memory since the process started (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let pid = self.child.id().context("the process has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading the memory of {} (pid {pid})", self.name))?;
        parse_vm_hwm(&status).with_context(|| format!("no VmHWM for {} (pid {pid})", self.name))
    }
}

/// The `VmHWM` line of a `/proc/<pid>/status` text, in KiB.
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
}

/// Where the binaries are: the given directory or the one holding this binary.
pub fn bin_dir(configured: Option<&Path>) -> anyhow::Result<PathBuf> {
    match configured {
        Some(dir) => Ok(dir.to_owned()),
        None => {
            let exe = std::env::current_exe().context("locating this binary")?;
            Ok(exe
                .parent()
                .context("this binary has a directory")?
                .to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_read_from_the_vm_hwm_line() {
        let status =
            "Name:\tserver\nVmPeak:\t  123456 kB\nVmHWM:\t    8792 kB\nVmRSS:\t    8000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(8792));
        assert_eq!(parse_vm_hwm("Name:\tserver\n"), None);
    }
}
