//! Request limits shared by the gRPC and REST edges, so both refuse the same
//! requests with the same words.

use std::ops::Range;

use bookstream::StartFrom;
use thiserror::Error;

use crate::{
    pipeline::Ask,
    source::{End, Selection, Start},
};

/// What one request may ask for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most books per request.
    pub max_results: u64,
    /// Largest one-shot (unary or JSON array) answer, in bytes.
    pub max_message_bytes: usize,
}

/// A request the server will not answer as asked.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LimitError {
    #[error("max_results must be at least 1")]
    NoBooksRequested,
    #[error("max_results {requested} is above this server's limit of {limit} books per request")]
    TooManyBooks { requested: u64, limit: u64 },
    #[error("this server already serves its limit of {limit} streams at once; try again shortly")]
    TooManyStreams { limit: usize },
    #[error(
        "this server already builds its limit of {limit} one-shot answers at once; try again \
         shortly, or stream the books (Recommend, /recommendations/stream), which has no such limit"
    )]
    TooManyOneShot { limit: usize },
    #[error("start_at {start_at} is past the end of a {max_results}-book result")]
    ResumePastEnd { start_at: u64, max_results: u64 },
    #[error(
        "follow keeps a stream open for books appended later: ask Recommend or \
         /recommendations/stream, not a one-shot answer"
    )]
    FollowNeedsStream,
    #[error("{0}")]
    SeekConflict(&'static str),
    #[error("start_from {0} is not a known StartFrom value")]
    UnknownStartFrom(i32),
    #[error(
        "the answer for {requested} books would exceed the {limit_bytes}-byte limit of a one-shot \
         answer (reached after {books_fitting} books); ask for fewer books or use {streaming_alternative}, \
         which streams any number of books"
    )]
    AnswerTooLarge {
        requested: u64,
        limit_bytes: usize,
        books_fitting: u64,
        streaming_alternative: &'static str,
    },
}

impl Limits {
    /// Checks a requested book count and returns it.
    pub fn check_count(&self, requested: u64) -> Result<u64, LimitError> {
        match requested {
            0 => Err(LimitError::NoBooksRequested),
            n if n > self.max_results => Err(LimitError::TooManyBooks {
                requested: n,
                limit: self.max_results,
            }),
            n => Ok(n),
        }
    }
}

impl Limits {
    /// Checks a request's size and resume point and returns the ids to send.
    pub fn check_request(&self, max_results: u64, start_at: u64) -> Result<Range<u64>, LimitError> {
        let count = self.check_count(max_results)?;
        if start_at > count {
            return Err(LimitError::ResumePastEnd {
                start_at,
                max_results: count,
            });
        }
        Ok(start_at..count)
    }
}

impl Limits {
    /// Checks a request's seek and size and says what it selects. A
    /// one-shot answer (`streamed` false) cannot follow; a follow is not
    /// held to `max_results` (0: no limit), since it sends books as they come.
    pub fn select(&self, ask: &Ask, streamed: bool) -> Result<Selection, LimitError> {
        if ask.follow && !streamed {
            return Err(LimitError::FollowNeedsStream);
        }
        if ask.start_from != StartFrom::Rank && ask.start_at != 0 {
            return Err(LimitError::SeekConflict(
                "start_at is the resume point of a request from a rank; a request from the \
                 earliest, the latest or a time starts where the server finds it: leave start_at 0",
            ));
        }
        if ask.start_from != StartFrom::Time && ask.start_time_ms != 0 {
            return Err(LimitError::SeekConflict(
                "start_time_ms is only for a request from a time (START_FROM_TIME, from=time)",
            ));
        }
        let start = match ask.start_from {
            StartFrom::Rank => Start::Rank(ask.start_at),
            StartFrom::Earliest => Start::Earliest,
            StartFrom::Latest => Start::Latest,
            StartFrom::Time => Start::Time {
                ms: ask.start_time_ms,
            },
        };
        let end = match (ask.follow, ask.max_results, start) {
            (true, 0, _) => End::Open,
            (true, count, Start::Rank(start_at)) if start_at > count => {
                return Err(LimitError::ResumePastEnd {
                    start_at,
                    max_results: count,
                });
            }
            (true, count, Start::Rank(_)) => End::Rank(count),
            (true, count, _) => End::Count(count),
            (false, max_results, Start::Rank(start_at)) => {
                End::Rank(self.check_request(max_results, start_at)?.end)
            }
            (false, max_results, _) => End::Count(self.check_count(max_results)?),
        };
        Ok(Selection {
            user_id: ask.user_id,
            start,
            end,
            follow: ask.follow,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_results: 100,
        max_message_bytes: 1024,
    };

    fn ask(start_from: StartFrom, follow: bool) -> Ask {
        Ask {
            user_id: 1,
            max_results: 10,
            start_at: 0,
            follow,
            start_from,
            start_time_ms: 0,
        }
    }

    #[test]
    fn a_request_from_a_rank_selects_what_it_always_did() {
        let selection = LIMITS
            .select(
                &Ask {
                    start_at: 4,
                    ..ask(StartFrom::Rank, false)
                },
                true,
            )
            .unwrap();
        assert_eq!(selection, Selection::ranks(1, 4..10));
    }

    #[test]
    fn a_follow_has_no_cap_and_zero_means_no_end() {
        let open = LIMITS
            .select(
                &Ask {
                    max_results: 0,
                    ..ask(StartFrom::Latest, true)
                },
                true,
            )
            .unwrap();
        assert_eq!((open.start, open.end), (Start::Latest, End::Open));
        let long = LIMITS
            .select(
                &Ask {
                    max_results: 1_000_000,
                    ..ask(StartFrom::Rank, true)
                },
                true,
            )
            .unwrap();
        assert_eq!(long.end, End::Rank(1_000_000));
    }

    #[test]
    fn contradictory_seeks_and_one_shot_follows_are_refused() {
        let refused = |ask: Ask, streamed| LIMITS.select(&ask, streamed).unwrap_err();
        assert_eq!(
            refused(ask(StartFrom::Rank, true), false),
            LimitError::FollowNeedsStream
        );
        assert!(matches!(
            refused(
                Ask {
                    start_at: 3,
                    ..ask(StartFrom::Latest, true)
                },
                true
            ),
            LimitError::SeekConflict(_)
        ));
        assert!(matches!(
            refused(
                Ask {
                    start_time_ms: 5,
                    ..ask(StartFrom::Earliest, true)
                },
                true
            ),
            LimitError::SeekConflict(_)
        ));
        assert!(matches!(
            refused(
                Ask {
                    max_results: 0,
                    ..ask(StartFrom::Time, false)
                },
                true
            ),
            LimitError::NoBooksRequested
        ));
    }

    #[test]
    fn zero_books_is_refused() {
        assert_eq!(LIMITS.check_count(0), Err(LimitError::NoBooksRequested));
    }

    #[test]
    fn counts_up_to_the_cap_are_accepted() {
        assert_eq!(LIMITS.check_count(1), Ok(1));
        assert_eq!(LIMITS.check_count(100), Ok(100));
    }

    #[test]
    fn a_resume_point_selects_the_rest_of_the_result() {
        assert_eq!(LIMITS.check_request(10, 0), Ok(0..10));
        assert_eq!(LIMITS.check_request(10, 4), Ok(4..10));
        assert_eq!(LIMITS.check_request(10, 10), Ok(10..10));
    }

    #[test]
    fn a_resume_point_past_the_end_is_refused() {
        assert_eq!(
            LIMITS.check_request(10, 11),
            Err(LimitError::ResumePastEnd {
                start_at: 11,
                max_results: 10
            })
        );
        assert_eq!(
            LIMITS.check_request(0, 0),
            Err(LimitError::NoBooksRequested)
        );
    }

    #[test]
    fn a_count_above_the_cap_is_refused_with_the_limit_in_the_message() {
        let error = LIMITS.check_count(101).unwrap_err();
        assert_eq!(
            error.to_string(),
            "max_results 101 is above this server's limit of 100 books per request"
        );
    }
}
