//! What a store needs for the bench: user 1 loaded deep enough, and for
//! PostgreSQL the database's own export of the same rows and the memory of
//! the server's backends.

use std::{
    collections::HashMap,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use bookstream_server::source::{CatalogSpec, postgres::APPLICATION_NAME};
use tokio::process::Command;

use crate::{pair::USER_ID, processes};

/// Loads user 1's `books` books into the store with the real `server load`.
pub async fn load(bin_dir: &Path, catalog: &CatalogSpec, books: u64) -> anyhow::Result<()> {
    tracing::warn!("loading {books} books for user {USER_ID}; this runs once per store");
    let status = Command::new(bin_dir.join("server"))
        .args([
            "load",
            "--users",
            &USER_ID.to_string(),
            "--books",
            &books.to_string(),
        ])
        .env("BOOKSTREAM_CATALOG", catalog.reveal())
        .status()
        .await
        .context("running server load")?;
    if !status.success() {
        bail!("server load failed ({status})");
    }
    Ok(())
}

/// The same rows as a stream of `books` books reads, exported by PostgreSQL
/// itself (`psql \copy … TO '/dev/null'`): the honest ceiling for the store
/// path. `None` when the catalog is not PostgreSQL or `psql` is missing.
pub async fn export_time(catalog: &CatalogSpec, books: u64) -> Option<Duration> {
    if !matches!(catalog, CatalogSpec::Postgres(_)) {
        return None;
    }
    let copy = format!(
        "\\copy (SELECT rank, title, author, isbn13, year, genre, score \
         FROM recommendations WHERE user_id = {USER_ID} AND rank < {books} ORDER BY rank) \
         TO '/dev/null'"
    );
    let started = Instant::now();
    let status = Command::new("psql")
        .args(["-X", "-q", "-d", &catalog.reveal(), "-c", &copy])
        .stdout(Stdio::null())
        .status()
        .await
        .ok()?;
    status.success().then(|| started.elapsed())
}

/// The largest peak memory among the server's PostgreSQL backends (shared
/// buffers they touched included), read from `/proc` on this machine.
pub async fn backend_peak_kib(catalog: &CatalogSpec) -> Option<u64> {
    backend_pids(catalog)
        .await?
        .into_iter()
        .filter_map(|pid| processes::peak_rss_kib(pid).ok())
        .max()
}

/// The CPU seconds each of the server's PostgreSQL backends has used so
/// far, read from `/proc` on this machine (the database runs here).
pub async fn backend_cpu(catalog: &CatalogSpec) -> Option<BackendCpu> {
    let pids = backend_pids(catalog).await?;
    Some(BackendCpu(
        pids.into_iter()
            .filter_map(|pid| Some((pid, processes::cpu_seconds_of(pid).ok()?)))
            .collect(),
    ))
}

/// CPU seconds by backend pid, at one moment.
pub struct BackendCpu(HashMap<u32, f64>);

impl BackendCpu {
    /// What the backends spent from `before` to this moment; a backend the
    /// pool opened in between counts in full, one it closed not at all.
    pub fn spent_since(&self, before: &BackendCpu) -> f64 {
        self.0
            .iter()
            .map(|(pid, now)| now - before.0.get(pid).copied().unwrap_or(0.0))
            .sum()
    }
}

/// The backends serving the server's pool, from `pg_stat_activity`; `None`
/// when the catalog is not PostgreSQL or `psql` is missing.
async fn backend_pids(catalog: &CatalogSpec) -> Option<Vec<u32>> {
    if !matches!(catalog, CatalogSpec::Postgres(_)) {
        return None;
    }
    let query =
        format!("SELECT pid FROM pg_stat_activity WHERE application_name = '{APPLICATION_NAME}'");
    let output = Command::new("psql")
        .args(["-X", "-A", "-t", "-d", &catalog.reveal(), "-c", &query])
        .output()
        .await
        .ok()?;
    Some(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|pid| pid.trim().parse::<u32>().ok())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_opened_during_the_run_counts_in_full_and_a_closed_one_not_at_all() {
        let before = BackendCpu(HashMap::from([(1, 2.0), (2, 5.0)]));
        let after = BackendCpu(HashMap::from([(1, 2.5), (3, 0.25)]));
        assert_eq!(after.spent_since(&before), 0.75);
    }
}
