//! What a client that died mid-run left behind: each such run's temporary
//! file. At start the client counts the books in it for the run's record
//! and removes it; other files, and other runs' files, are never touched.

use std::path::Path;

use clap::ValueEnum;

use super::history::CLIENT_STOPPED;
use super::record::RunRecord;
use crate::sink::{self, Format};

/// Mends `record` if it is a run the client died in: gives it the books its
/// temporary file holds and removes that file. True when it changed.
pub(super) fn recover(record: &mut RunRecord) -> bool {
    if record.error.as_deref() != Some(CLIENT_STOPPED) || record.file.is_empty() {
        return false;
    }
    let Ok(format) = Format::from_str(&record.settings.format, true) else {
        return false;
    };
    let mut changed = false;
    for leftover in sink::leftovers(Path::new(&record.file), record.id) {
        match sink::count_books(&leftover, format) {
            Ok(books) if books > record.received => {
                record.received = books;
                changed = true;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(
                run = record.id,
                file = %leftover.display(),
                "cannot count the books of a run the client died in: {error}"
            ),
        }
        match std::fs::remove_file(&leftover) {
            Ok(()) => tracing::info!(
                run = record.id,
                file = %leftover.display(),
                received = record.received,
                "removed the temporary file of a run the client died in"
            ),
            Err(error) => tracing::warn!(
                run = record.id,
                file = %leftover.display(),
                "cannot remove the temporary file of a run the client died in: {error}"
            ),
        }
    }
    changed
}
