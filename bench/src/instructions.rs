//! Instructions per book, counted by callgrind (valgrind): a figure that
//! compares across machines, where CPU-seconds do not. Each side runs under
//! `valgrind --tool=callgrind`; its counters are dumped (and so zeroed) just
//! before one timed `GET /<n>` and again just after, so the second dump
//! holds exactly what that request cost each process.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use anyhow::{Context, bail};
use bookstream_server::source::CatalogSpec;
use serde::Serialize;
use tokio::process::Command;

use crate::pair::Pair;

/// What each side executed per book of one `GET /<books>`.
#[derive(Debug, Clone, Serialize)]
pub struct InstructionFigures {
    pub catalog: String,
    pub books: u64,
    pub server_per_book: f64,
    pub client_per_book: f64,
}

/// The command a process runs under: callgrind, writing its dumps into `dir`.
pub fn callgrind(dir: &Path) -> Vec<String> {
    vec![
        "valgrind".to_owned(),
        "--tool=callgrind".to_owned(),
        // Its own notes go to a file: they would cut into the bench's report.
        "--quiet".to_owned(),
        format!("--log-file={}/valgrind.%p.log", dir.display()),
        // Totals only: no per-instruction or per-line detail to write.
        "--dump-instr=no".to_owned(),
        "--dump-line=no".to_owned(),
        format!("--callgrind-out-file={}/callgrind.out.%p", dir.display()),
    ]
}

/// Counts one `GET /<books>` on `pair`, whose processes run under [`callgrind`].
pub async fn count(
    pair: &Pair,
    dir: &Path,
    catalog: &CatalogSpec,
    books: u64,
) -> anyhow::Result<InstructionFigures> {
    // Start-up, connections and the first page cost nothing per book.
    pair.trigger(1000.min(books)).await?;
    let pids = [pair.server.pid()?, pair.client.pid()?];
    for pid in pids {
        dump(dir, pid).await?;
    }
    pair.trigger(books).await?;
    let mut counted = [0.0; 2];
    for (side, pid) in counted.iter_mut().zip(pids) {
        let instructions = dump(dir, pid).await?;
        *side = instructions as f64 / books as f64;
    }
    Ok(InstructionFigures {
        catalog: catalog.to_string(),
        books,
        server_per_book: counted[0],
        client_per_book: counted[1],
    })
}

/// Asks callgrind in `pid` to dump its counters (which zeroes them) and
/// reads the instructions in that dump.
async fn dump(dir: &Path, pid: u32) -> anyhow::Result<u64> {
    let before = dumps(dir, pid)?;
    let status = Command::new("callgrind_control")
        .args(["--dump", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .context("running callgrind_control (from valgrind)")?;
    if !status.success() {
        bail!("callgrind_control --dump {pid} failed ({status})");
    }
    let newest = dumps(dir, pid)?
        .into_iter()
        .filter(|path| !before.contains(path))
        .max_by_key(|path| dump_number(path))
        .with_context(|| format!("callgrind wrote no dump for pid {pid}"))?;
    let text = std::fs::read_to_string(&newest)
        .with_context(|| format!("reading {}", newest.display()))?;
    total_instructions(&text).with_context(|| format!("no totals in {}", newest.display()))
}

/// The dumps of `pid` so far: `callgrind.out.PID.N`.
fn dumps(dir: &Path, pid: u32) -> anyhow::Result<Vec<PathBuf>> {
    let prefix = format!("callgrind.out.{pid}.");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with(&prefix))
        {
            found.push(path);
        }
    }
    Ok(found)
}

fn dump_number(path: &Path) -> u64 {
    path.extension()
        .and_then(|number| number.to_str())
        .and_then(|number| number.parse().ok())
        .unwrap_or(0)
}

/// The instruction count of a callgrind dump: its `totals:` (or, in older
/// versions, `summary:`) line, whose first event is `Ir`.
pub fn total_instructions(dump: &str) -> Option<u64> {
    dump.lines()
        .find_map(|line| {
            line.strip_prefix("totals:")
                .or_else(|| line.strip_prefix("summary:"))
        })
        .and_then(|counts| counts.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_totals_line_gives_the_instructions() {
        let dump = "version: 1\ncreator: callgrind-3.19.0\npid: 42\nevents: Ir\n\
                    fn=(1) main\n5 100\nsummary: 123456\ntotals: 123456\n";
        assert_eq!(total_instructions(dump), Some(123_456));
        assert_eq!(total_instructions("events: Ir\nfn=(1) main\n5 100\n"), None);
    }

    #[test]
    fn dumps_are_ordered_by_their_number() {
        let number = |name: &str| dump_number(Path::new(name));
        assert!(number("/tmp/callgrind.out.42.10") > number("/tmp/callgrind.out.42.9"));
        assert_eq!(number("/tmp/callgrind.out.42.x"), 0);
    }
}
