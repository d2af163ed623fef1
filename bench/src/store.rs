//! What a store needs for the bench: user 1 loaded deep enough, and for
//! PostgreSQL the database's own export of the same rows and the memory of
//! the server's backends.

use std::{
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

/// The CPU seconds the server's PostgreSQL backends have used so far, all
/// together, read from `/proc` on this machine (the database runs here).
pub async fn backend_cpu_seconds(catalog: &CatalogSpec) -> Option<f64> {
    let pids = backend_pids(catalog).await?;
    let mut total = 0.0;
    for pid in pids {
        total += processes::cpu_seconds_of(pid).ok()?;
    }
    Some(total)
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
