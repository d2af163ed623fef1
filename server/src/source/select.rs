//! What a request selects from a user's list: where it starts (a rank, the
//! earliest rank kept, the end, a time), where it ends, and whether it
//! follows the list as it grows; and the ranks a list keeps under retention.

use bookstream::book::BookPage;

use super::SourceError;

/// Where an answer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// This rank: the resume point of today's requests.
    Rank(u64),
    /// The earliest rank the list still keeps.
    Earliest,
    /// After the last book committed: only books appended from now on.
    Latest,
    /// The first book appended at or after this time (ms since the Unix epoch).
    Time { ms: u64 },
}

/// Where an answer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Before this rank (a `Start::Rank` request's `max_results`).
    Rank(u64),
    /// After this many books from the start.
    Count(u64),
    /// Never: a follow without a limit.
    Open,
}

/// What one request asks of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub user_id: u64,
    pub start: Start,
    pub end: End,
    /// Stay for books appended later.
    pub follow: bool,
}

impl Selection {
    /// Today's request: ranks `start..end` of `user_id`'s list, not followed.
    pub fn ranks(user_id: u64, ranks: std::ops::Range<u64>) -> Self {
        Self {
            user_id,
            start: Start::Rank(ranks.start),
            end: End::Rank(ranks.end),
            follow: false,
        }
    }

    /// The rank after the last one to send, once the start is known.
    pub fn end_after(&self, start: u64) -> u64 {
        match self.end {
            End::Rank(end) => end,
            End::Count(count) => start.saturating_add(count),
            End::Open => u64::MAX,
        }
    }
}

/// The ranks a list keeps: `earliest .. length`. Retention raises
/// `earliest`; appends raise `length`; neither ever falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bounds {
    pub earliest: u64,
    pub length: u64,
}

impl Bounds {
    /// From a store's signed columns.
    pub(super) fn stored(earliest: i64, length: i64) -> Self {
        let length = u64::try_from(length).unwrap_or(0);
        Self {
            earliest: u64::try_from(earliest).unwrap_or(0).min(length),
            length,
        }
    }

    /// `rank` is still kept, or the caller is told which is the earliest that is.
    pub fn check_kept(&self, user_id: u64, rank: u64) -> Result<(), SourceError> {
        if rank < self.earliest {
            return Err(SourceError::Expired {
                user_id,
                rank,
                earliest: self.earliest,
            });
        }
        Ok(())
    }
}

/// Whether a page read from rank `from` for `limit` books skips or ends
/// early: only then is it worth asking whether retention removed its ranks.
pub(super) fn looks_cut(page: &BookPage, from: i64, limit: i64) -> bool {
    let from = u64::try_from(from).unwrap_or(0);
    let short = (page.len() as u64) < u64::try_from(limit).unwrap_or(0);
    short || page.get(0).is_some_and(|book| book.id != from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rank_below_the_earliest_kept_names_the_earliest() {
        let bounds = Bounds::stored(100, 250);
        assert_eq!(bounds.check_kept(3, 100), Ok(()));
        assert_eq!(
            bounds.check_kept(3, 99),
            Err(SourceError::Expired {
                user_id: 3,
                rank: 99,
                earliest: 100
            })
        );
    }

    #[test]
    fn stored_bounds_never_start_past_their_end() {
        assert_eq!(
            Bounds::stored(-1, 10),
            Bounds {
                earliest: 0,
                length: 10
            }
        );
        assert_eq!(
            Bounds::stored(20, 10),
            Bounds {
                earliest: 10,
                length: 10
            }
        );
    }

    #[test]
    fn a_selection_ends_at_its_rank_its_count_or_never() {
        let select = |end| Selection {
            user_id: 1,
            start: Start::Latest,
            end,
            follow: true,
        };
        assert_eq!(select(End::Rank(10)).end_after(4), 10);
        assert_eq!(select(End::Count(10)).end_after(4), 14);
        assert_eq!(select(End::Open).end_after(4), u64::MAX);
        assert_eq!(select(End::Count(u64::MAX)).end_after(4), u64::MAX);
    }
}
