//! `server load`: fills a store with the generated catalog, so that every
//! book a store serves can be checked against `catalog::book(user, rank)`.
//!
//! Loading replaces the lists of the users it loads, in one transaction:
//! loading twice gives the same store, and a reader never sees half a load.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::{
    fmt,
    str::FromStr,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};

use super::{CatalogSpec, StoreFailure};

/// An inclusive range of user ids: `7`, or `1-3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserRange {
    pub first: u64,
    pub last: u64,
}

impl UserRange {
    pub(crate) fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    pub fn iter(&self) -> impl Iterator<Item = u64> + use<> {
        self.first..=self.last
    }
}

impl fmt::Display for UserRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// Users are stored as signed 64-bit integers in both stores.
const MAX_STORED_USER: u64 = i64::MAX as u64;

impl FromStr for UserRange {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let number = |text: &str| {
            text.trim().parse::<u64>().map_err(|_| {
                format!("'{text}' is not a user id: use a whole number, or a range like 1-3")
            })
        };
        let (first, last) = match value.split_once('-') {
            Some((first, last)) => (number(first)?, number(last)?),
            None => {
                let user = number(value)?;
                (user, user)
            }
        };
        if first > last {
            return Err(format!(
                "the range {first}-{last} runs backwards: write {last}-{first}"
            ));
        }
        if last > MAX_STORED_USER {
            return Err(format!("user ids go up to {MAX_STORED_USER} in a store"));
        }
        Ok(Self { first, last })
    }
}

/// What to load.
#[derive(Debug, Clone, Copy)]
pub struct LoadRequest {
    pub users: UserRange,
    /// Books per user: ranks 0..books.
    pub books: u64,
}

impl LoadRequest {
    /// Books in the whole load.
    pub fn total_books(&self) -> u64 {
        self.users.len().saturating_mul(self.books)
    }
}

/// What a load did.
#[derive(Debug, Clone, Copy)]
pub struct LoadReport {
    /// Books loaded: one `recommendations` row each.
    pub books: u64,
    pub elapsed: Duration,
}

impl LoadReport {
    pub fn books_per_second(&self) -> f64 {
        per_second(self.books, self.elapsed)
    }
}

/// A load's rate: books over its elapsed time (0 for no time at all).
pub(crate) fn per_second(books: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        books as f64 / seconds
    } else {
        0.0
    }
}

/// Why a load did not complete; the store is then as it was before.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the generated catalog needs no loading: give --catalog sqlite:PATH or postgres://…")]
    Generated,
    #[error("loading {store} failed: {cause}")]
    Sqlite {
        store: String,
        #[source]
        cause: StoreFailure,
    },
    #[error("loading {store} failed: {cause}")]
    Postgres {
        store: String,
        #[source]
        cause: StoreFailure,
    },
    #[error("migrating the schema of {store} failed: {cause}")]
    Migration {
        store: String,
        #[source]
        cause: StoreFailure,
    },
}

/// Counts loaded books for the progress bar, a batch at a time.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
}

/// Books between two progress updates: the bar costs nothing per book.
pub const PROGRESS_BATCH: u64 = 16_384;

impl Progress {
    /// A bar on stderr when it is a terminal; invisible otherwise.
    pub fn new(total: u64) -> Self {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} [{bar:40}] {human_pos}/{human_len} books, {per_sec}, {eta} left",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Self { bar }
    }

    /// A counter of rows for a load whose size is not known ahead (a file).
    pub fn rows() -> Self {
        let bar = ProgressBar::no_length();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {human_pos} rows, {per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Self { bar }
    }

    /// No bar at all (tests, embedders).
    pub fn hidden() -> Self {
        Self {
            bar: ProgressBar::hidden(),
        }
    }

    pub fn phase(&self, message: &'static str) {
        self.bar.set_message(message);
    }

    pub fn advance(&self, books: u64) {
        self.bar.inc(books);
    }

    pub fn restart(&self) {
        self.bar.set_position(0);
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Loads `request` into the store named by `spec`.
pub async fn load(
    spec: &CatalogSpec,
    request: LoadRequest,
    progress: &Progress,
) -> Result<LoadReport, LoadError> {
    let started = Instant::now();
    match spec {
        CatalogSpec::Generated => return Err(LoadError::Generated),
        CatalogSpec::Sqlite(path) => {
            let path = path.clone();
            let bar = progress.clone();
            // SQLite is synchronous: the whole load runs on a blocking thread.
            tokio::task::spawn_blocking(move || sqlite::load(&path, request, &bar))
                .await
                .map_err(|error| LoadError::Sqlite {
                    store: spec.to_string(),
                    cause: StoreFailure::during("the load stopped", error),
                })??;
        }
        CatalogSpec::Postgres(url) => postgres::load(url, request, progress).await?,
    }
    progress.finish();
    Ok(LoadReport {
        books: request.total_books(),
        elapsed: started.elapsed(),
    })
}

/// Migrates the store's schema up to migration `version` and no further,
/// as a server of that version left it, creating it if need be: how the
/// checks build the stores older servers wrote, to show that each is still
/// read as it was and carried forward by the next load or writer.
pub async fn migrate_to(spec: &CatalogSpec, version: i32) -> Result<(), LoadError> {
    match spec {
        CatalogSpec::Generated => Err(LoadError::Generated),
        CatalogSpec::Sqlite(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || sqlite::migrate_to(&path, version))
                .await
                .map_err(|error| LoadError::Sqlite {
                    store: spec.to_string(),
                    cause: StoreFailure::during("the migration stopped", error),
                })?
        }
        CatalogSpec::Postgres(url) => postgres::migrate_to(url, version).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_user_or_an_inclusive_range_is_understood() {
        assert_eq!("7".parse(), Ok(UserRange { first: 7, last: 7 }));
        assert_eq!("1-3".parse(), Ok(UserRange { first: 1, last: 3 }));
        assert_eq!("0-9".parse::<UserRange>().unwrap().len(), 10);
        assert_eq!("0-9".parse::<UserRange>().unwrap().to_string(), "0-9");
    }

    #[test]
    fn bad_ranges_say_what_is_wrong() {
        for (bad, says) in [
            ("3-1", "backwards"),
            ("a", "not a user id"),
            ("1-", "not a user id"),
            ("-1", "not a user id"),
            ("1;DROP TABLE books", "not a user id"),
            ("9223372036854775808", "go up to"),
        ] {
            let error = bad.parse::<UserRange>().unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
