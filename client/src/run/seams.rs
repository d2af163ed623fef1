//! The two seams a run depends on, and nothing else of the client: an
//! [`Opener`] that opens a stream of books from a rank (the servers, or a
//! test's fake), and an [`Observer`] that hears how the run goes (the live
//! view of `runs/`, or a test's recorder). The run neither knows the
//! registry nor the network; both know the run.

use std::future::Future;

use bytes::Bytes;
use futures::Stream;
use serde::{Deserialize, Serialize};
use tonic::Status;

use crate::upstream::UpstreamError;

/// Books between two progress reports to the observer (and two checks of
/// whether a person asked to stop): often enough for a live view, rare
/// enough to cost the hot path nothing measurable.
pub const PROGRESS_EVERY: u64 = 1024;

/// A stream of books, opened at a rank.
#[derive(Debug)]
pub struct Opened<S, V> {
    /// Each book's message as it arrived, to be read in place.
    pub stream: S,
    /// Which server it comes from, to be marked if the stream breaks.
    pub server: V,
    /// The server's URL, for the run's record.
    pub url: String,
    /// The books this stream will send, when the server said (a user's list
    /// may hold fewer books than asked for).
    pub count: Option<u64>,
    /// A follow's first rank, as the server resolved it (from the latest
    /// book or a time): the run resumes from there if nothing came yet.
    pub start: Option<u64>,
}

/// Where a follow starts; it then stays for books appended later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FollowFrom {
    /// The `start_at` rank given with it.
    Rank,
    /// The earliest rank the list still keeps.
    Earliest,
    /// After the last book committed: only books appended from now on.
    Latest,
    /// The first book appended at or after this time (ms since the Unix epoch).
    Time(u64),
}

/// Where a run's streams come from.
pub trait Opener: Sync {
    type Stream: Stream<Item = Result<Bytes, Status>> + Send + Unpin;
    type Server: Send + Sync;

    /// A stream of the `count`-book result for `user_id`, from book
    /// `start_at`; with `follow`, one that stays for books appended later
    /// (`count` 0: with no end).
    fn open(
        &self,
        user_id: u64,
        count: u64,
        start_at: u64,
        follow: Option<FollowFrom>,
    ) -> impl Future<Output = Result<Opened<Self::Stream, Self::Server>, UpstreamError>> + Send;

    /// A stream from `server` broke: prefer others for a while.
    fn mark_broken(&self, server: &Self::Server);
}

/// One attempt of a run: one stream, from one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub server: String,
    /// The rank it started at (the books already written).
    pub first_rank: u64,
    pub books: u64,
    /// How it ended: `complete`, or the cause of the break.
    pub ended: String,
}

/// What a run tells as it goes, and how it learns that it should stop.
pub trait Observer: Sync {
    /// The first book arrived.
    fn first_book(&self);
    /// The total the servers announced.
    fn expected(&self, books: u64);
    /// Books written so far: every [`PROGRESS_EVERY`] books and at each attempt's end.
    fn received(&self, books: u64);
    fn attempt_started(&self, server: &str);
    fn attempt_ended(&self, attempt: AttemptRecord);
    /// A follow's lag: from the commit of the last book written to it being
    /// in the file (told when the file is flushed, for appended books).
    fn lag(&self, ms: u64);
    /// Whether a person asked the run to stop.
    fn stop_requested(&self) -> bool;
    /// Completes once a person asks the run to stop.
    fn stopped(&self) -> impl Future<Output = ()> + Send;
}
