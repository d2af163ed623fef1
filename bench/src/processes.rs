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
        envs: &[(&str, String)],
        ready_prefix: &str,
    ) -> anyhow::Result<(Self, String)> {
        Self::start_under(&[], bin_dir, name, args, envs, ready_prefix).await
    }

    /// The same, run by `wrapper` (a command and its arguments, such as
    /// valgrind's) when it is not empty.
    pub async fn start_under(
        wrapper: &[String],
        bin_dir: &Path,
        name: &'static str,
        args: &[&str],
        envs: &[(&str, String)],
        ready_prefix: &str,
    ) -> anyhow::Result<(Self, String)> {
        let path = bin_dir.join(name);
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(&path);
                command
            }
            None => Command::new(&path),
        };
        let mut child = command
            .args(args)
            .envs(envs.iter().map(|(name, value)| (name, value)))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| match wrapper.first() {
                Some(program) => format!("starting {} under {program}", path.display()),
                None => format!(
                    "starting {} (build it with cargo build --release)",
                    path.display()
                ),
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
        peak_rss_kib(pid)
            .with_context(|| format!("reading the memory of {} (pid {pid})", self.name))
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the process has exited")
    }

    /// CPU time (user and system) the process has used so far, in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let pid = self.child.id().context("the process has exited")?;
        cpu_seconds_of(pid).with_context(|| format!("reading the CPU time of {}", self.name))
    }
}

/// CPU time (user and system) any process has used so far, in seconds.
pub fn cpu_seconds_of(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let ticks = parse_cpu_ticks(&stat).with_context(|| format!("no CPU times for pid {pid}"))?;
    Ok(ticks as f64 / clock_ticks_per_second())
}

/// Resident memory now (`VmRSS`) of any process, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .context("no VmRSS in /proc/PID/status")
}

/// Peak resident memory (`VmHWM`) of any process, in KiB.
pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_hwm(&status).context("no VmHWM line")
}

/// utime + stime of a `/proc/<pid>/stat` text, in clock ticks. The command
/// name (field 2) may hold spaces, so fields are counted after its `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
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
    fn cpu_ticks_are_user_plus_system_even_with_spaces_in_the_name() {
        let stat = "4242 (tokio runtime) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 4 0";
        assert_eq!(parse_cpu_ticks(stat), Some(175));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn the_peak_is_read_from_the_vm_hwm_line() {
        let status =
            "Name:\tserver\nVmPeak:\t  123456 kB\nVmHWM:\t    8792 kB\nVmRSS:\t    8000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(8792));
        assert_eq!(parse_vm_hwm("Name:\tserver\n"), None);
    }
}
