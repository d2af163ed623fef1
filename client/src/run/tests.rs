//! The retry and resume state machine, without sockets: a fake opener that
//! breaks, stalls, ends short or sends out of order at chosen books, and a
//! recorder in place of the live view. The time is tokio's paused clock, so
//! backoffs and stall timeouts pass at once.

use std::{
    collections::VecDeque,
    path::Path,
    pin::Pin,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bookstream::catalog;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::*;
use crate::upstream::UpstreamError;

const USER: u64 = 7;

/// How one opened stream misbehaves; ranks are absolute.
#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    /// The open itself fails: the server is unreachable.
    Refuse,
    /// A transport error arrives in place of this book.
    CutAt(u64),
    /// Nothing more arrives from this book on.
    StallAt(u64),
    /// The stream ends cleanly before this book.
    EndAt(u64),
    /// This book is skipped: the next one arrives in its place.
    SkipAt(u64),
}

type FakeStream = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send>>;

/// Opens streams of the catalog's books, each misbehaving as the next fault says.
struct FakeOpener {
    faults: Mutex<VecDeque<Fault>>,
    opened_at: Mutex<Vec<u64>>,
    marked_broken: AtomicUsize,
}

impl FakeOpener {
    fn new(faults: &[Fault]) -> Self {
        Self {
            faults: Mutex::new(faults.iter().copied().collect()),
            opened_at: Mutex::new(Vec::new()),
            marked_broken: AtomicUsize::new(0),
        }
    }

    fn opened_at(&self) -> Vec<u64> {
        self.opened_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn encoded(user_id: u64, id: u64) -> Result<Bytes, Status> {
    Ok(prost::Message::encode_to_vec(&catalog::book(user_id, id)).into())
}

impl Opener for FakeOpener {
    type Stream = FakeStream;
    type Server = ();

    async fn open(
        &self,
        user_id: u64,
        count: u64,
        start_at: u64,
        _follow: Option<crate::run::FollowFrom>,
    ) -> Result<Opened<FakeStream, ()>, UpstreamError> {
        self.opened_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(start_at);
        let fault = self
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .unwrap_or(Fault::None);
        let books = move |ids: std::ops::Range<u64>| {
            futures::stream::iter(ids.map(move |id| encoded(user_id, id)))
        };
        let stream: FakeStream = match fault {
            Fault::Refuse => {
                return Err(UpstreamError::Unreachable {
                    endpoint: "fake://down".to_owned(),
                    status: Status::unavailable("connection refused"),
                });
            }
            Fault::None => Box::pin(books(start_at..count)),
            Fault::CutAt(at) => Box::pin(books(start_at..at).chain(futures::stream::once(async {
                Err(Status::unavailable("connection reset"))
            }))),
            Fault::StallAt(at) => Box::pin(books(start_at..at).chain(futures::stream::pending())),
            Fault::EndAt(at) => Box::pin(books(start_at..at)),
            Fault::SkipAt(at) => Box::pin(books(start_at..at).chain(books(at + 1..count))),
        };
        Ok(Opened {
            stream,
            server: (),
            url: "fake://server".to_owned(),
            count: Some(count - start_at),
            start: None,
        })
    }

    fn mark_broken(&self, _server: &()) {
        self.marked_broken.fetch_add(1, Ordering::Relaxed);
    }
}

/// Hears the run in place of the live view; can stop it at its first book.
#[derive(Default)]
struct Recorder {
    attempts: Mutex<Vec<AttemptRecord>>,
    stop: CancellationToken,
    stop_at_first_book: bool,
}

impl Recorder {
    fn attempts(&self) -> Vec<AttemptRecord> {
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Observer for Recorder {
    fn first_book(&self) {
        if self.stop_at_first_book {
            self.stop.cancel();
        }
    }

    fn expected(&self, _books: u64) {}

    fn received(&self, _books: u64) {}

    fn attempt_started(&self, _server: &str) {}

    fn lag(&self, _ms: u64) {}

    fn attempt_ended(&self, attempt: AttemptRecord) {
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(attempt);
    }

    fn stop_requested(&self) -> bool {
        self.stop.is_cancelled()
    }

    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send {
        self.stop.cancelled()
    }
}

fn request(dir: &Path, name: &str, count: u64) -> RunRequest {
    RunRequest {
        run_id: 1,
        user_id: USER,
        count,
        output: dir.join(name),
        format: Format::Csv,
        echo: false,
        retry: RetryPolicy {
            retries: 3,
            first_backoff: Duration::from_millis(200),
        },
        idle_timeout: Duration::from_secs(30),
        follow: None,
        first_rank: 0,
    }
}

/// The file an unbroken run of `count` books writes.
async fn clean_file(dir: &Path, count: u64) -> Vec<u8> {
    let request = request(dir, "clean.csv", count);
    let summary = run(&FakeOpener::new(&[]), &request, &Recorder::default())
        .await
        .expect("an unbroken run completes");
    std::fs::read(summary.file).expect("the clean file")
}

#[tokio::test(start_paused = true)]
async fn every_break_that_may_heal_is_resumed_into_the_bytes_of_an_unbroken_run() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let expected = clean_file(dir.path(), 3_000).await;
    for (name, fault, resumed_at) in [
        ("cut", Fault::CutAt(1_234), 1_234),
        ("stall", Fault::StallAt(700), 700),
        ("short", Fault::EndAt(2_999), 2_999),
        ("refused", Fault::Refuse, 0),
    ] {
        let opener = FakeOpener::new(&[fault]);
        let recorder = Recorder::default();
        let request = request(dir.path(), &format!("{name}.csv"), 3_000);
        let summary = run(&opener, &request, &recorder)
            .await
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(summary.received, 3_000, "{name}");
        assert_eq!(summary.retries, 1, "{name}");
        assert_eq!(opener.opened_at(), vec![0, resumed_at], "{name}");
        assert_eq!(
            std::fs::read(&summary.file).expect("the file"),
            expected,
            "{name}: the same bytes as an unbroken run"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn each_attempt_is_recorded_with_how_it_ended() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let opener = FakeOpener::new(&[Fault::StallAt(100), Fault::CutAt(250)]);
    let recorder = Recorder::default();
    let request = RunRequest {
        idle_timeout: Duration::from_secs(2),
        ..request(dir.path(), "books.csv", 400)
    };
    run(&opener, &request, &recorder).await.expect("completes");
    let attempts = recorder.attempts();
    let summary: Vec<(u64, u64, &str)> = attempts
        .iter()
        .map(|attempt| (attempt.first_rank, attempt.books, attempt.ended.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, 100, "no book arrived for 2s"),
            (100, 150, "connection reset (Unavailable)"),
            (250, 150, "complete"),
        ]
    );
    assert_eq!(opener.marked_broken.load(Ordering::Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn a_book_out_of_order_is_final_and_what_arrived_is_kept_as_partial() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let opener = FakeOpener::new(&[Fault::SkipAt(200)]);
    let request = request(dir.path(), "books.csv", 1_000);
    let error = run(&opener, &request, &Recorder::default())
        .await
        .expect_err("a server that skips a book is not trusted to resume");
    let RunError::Interrupted {
        received,
        retries,
        cause,
        partial_file,
        ..
    } = error
    else {
        panic!("interrupted, not {error:?}");
    };
    assert_eq!((received, retries), (200, 0));
    assert!(matches!(
        cause,
        Break::OutOfOrder {
            sent: 201,
            expected: 200
        }
    ));
    assert_eq!(opener.opened_at(), vec![0], "no retry");
    let partial = std::fs::read_to_string(partial_file.expect("kept")).expect("readable");
    // A header and the 200 books that arrived in order.
    assert_eq!(partial.lines().count(), 201);
    assert!(!request.output.exists(), "the output is only ever whole");
}

#[tokio::test(start_paused = true)]
async fn when_breaks_outnumber_the_retries_the_books_that_arrived_are_kept() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cuts = [
        Fault::CutAt(10),
        Fault::CutAt(20),
        Fault::CutAt(30),
        Fault::CutAt(40),
    ];
    let opener = FakeOpener::new(&cuts);
    let request = request(dir.path(), "books.csv", 100);
    let error = run(&opener, &request, &Recorder::default())
        .await
        .expect_err("four cuts and three retries");
    let RunError::Interrupted {
        requested,
        received,
        retries,
        cause,
        ..
    } = error
    else {
        panic!("interrupted, not {error:?}");
    };
    assert_eq!((requested, received, retries), (100, 40, 3));
    assert!(matches!(cause, Break::Status(_)), "{cause}");
    assert_eq!(opener.opened_at(), vec![0, 10, 20, 30]);
}

#[tokio::test(start_paused = true)]
async fn a_server_that_stays_unreachable_fails_the_run_before_any_file_exists() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let opener = FakeOpener::new(&[Fault::Refuse; 4]);
    let request = request(dir.path(), "books.csv", 100);
    let error = run(&opener, &request, &Recorder::default())
        .await
        .expect_err("never reachable");
    assert!(
        matches!(error, RunError::Upstream { retries: 3, .. }),
        "{error:?}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("listable").count(),
        0,
        "no file, not even a temporary one"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_keeps_what_arrived_and_does_not_retry() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let opener = FakeOpener::new(&[Fault::StallAt(50)]);
    let recorder = Recorder {
        stop_at_first_book: true,
        ..Recorder::default()
    };
    let request = request(dir.path(), "books.csv", 100);
    let error = run(&opener, &request, &recorder)
        .await
        .expect_err("stopped");
    let RunError::Cancelled {
        received,
        retries,
        partial_file,
    } = error
    else {
        panic!("cancelled, not {error:?}");
    };
    assert_eq!((received, retries), (50, 0));
    assert!(partial_file.is_some());
    assert_eq!(opener.opened_at(), vec![0]);
}

#[tokio::test(start_paused = true)]
async fn a_run_error_says_how_it_ended_and_what_arrived() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let opener = FakeOpener::new(&[Fault::SkipAt(30)]);
    let error = run(
        &opener,
        &request(dir.path(), "books.csv", 100),
        &Recorder::default(),
    )
    .await
    .expect_err("out of order");
    assert_eq!(error.shortfall(), Shortfall::Partial);
    let arrived = error.arrived().expect("books arrived");
    assert_eq!((arrived.received, arrived.retries), (30, 0));
    assert!(arrived.partial_file.is_some_and(Path::exists));

    let refused = FakeOpener::new(&[Fault::Refuse; 4]);
    let error = run(
        &refused,
        &request(dir.path(), "none.csv", 100),
        &Recorder::default(),
    )
    .await
    .expect_err("unreachable");
    assert_eq!(error.shortfall(), Shortfall::Failed);
    let arrived = error.arrived().expect("the retries are told");
    assert_eq!((arrived.received, arrived.retries), (0, 3));
    assert!(arrived.partial_file.is_none());
}
