//! The one stream of books every edge consumes, whatever the source.
//!
//! Generated books are handles made on demand. Store books arrive in pages
//! read by keyset (`rank >= next`, never OFFSET): while one page is being
//! sent, the next is read, and no further, so the database round trip
//! overlaps the network and memory holds about two pages for any n. When the
//! caller leaves, the stream is dropped with its pending read, and reading stops.

use std::{
    future::Future,
    ops::Range,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Instant,
};

use bookstream::book::{BookPage, OutgoingBook};
use futures::{FutureExt, Stream, future::BoxFuture};
use prometheus_client::metrics::histogram::Histogram;
use tokio::task::JoinHandle;

mod follow;

pub use follow::FollowMetrics;
use follow::Following;

use super::SourceError;
use crate::{
    answer_log::{AnswerLog, Ended},
    follow::{Closed, SharedPage, Subscription},
};

/// Reads pages of one store by keyset.
pub trait PageReader: Send + Sync + 'static {
    /// Up to `limit` books of `user_id` from rank `from` on, in rank order.
    fn read_page(
        &self,
        user_id: u64,
        from: u64,
        limit: u64,
    ) -> BoxFuture<'static, Result<BookPage, SourceError>>;

    /// The store's password-free name, for error messages.
    fn store(&self) -> &str;
}

/// The books of one request, in rank order. It counts the books it yields
/// and, once dropped, tells its [`AnswerLog`]: once per request, never per
/// book.
pub struct BookStream {
    source: Source,
    sent: u64,
    ended: Option<Ended>,
    log: Option<AnswerLog>,
}

enum Source {
    Generated { user_id: u64, ids: Range<u64> },
    Paged(PagedBooks),
}

impl BookStream {
    pub fn generated(user_id: u64, ids: Range<u64>) -> Self {
        Self::from_source(Source::Generated { user_id, ids })
    }

    pub(super) fn paged(books: PagedBooks) -> Self {
        Self::from_source(Source::Paged(books))
    }

    fn from_source(source: Source) -> Self {
        Self {
            source,
            sent: 0,
            ended: None,
            log: None,
        }
    }

    /// Tells `log` how this stream ended once it is dropped.
    pub fn logged(mut self, log: AnswerLog) -> Self {
        self.log = Some(log);
        self
    }
}

impl Stream for BookStream {
    type Item = Result<OutgoingBook, SourceError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let polled = match &mut this.source {
            Source::Generated { user_id, ids } => Poll::Ready(ids.next().map(|id| {
                Ok(OutgoingBook::Catalog {
                    user_id: *user_id,
                    id,
                })
            })),
            Source::Paged(paged) => Pin::new(paged).poll_next(cx),
        };
        match &polled {
            Poll::Ready(Some(Ok(_))) => this.sent += 1,
            Poll::Ready(Some(Err(error))) => this.ended = Some(Ended::Failed(error.to_string())),
            Poll::Ready(None) if this.ended.is_none() => this.ended = Some(Ended::Complete),
            Poll::Ready(None) | Poll::Pending => {}
        }
        polled
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.source {
            Source::Generated { ids, .. } => ids.size_hint(),
            Source::Paged(_) => (0, None),
        }
    }
}

impl Drop for BookStream {
    fn drop(&mut self) {
        if let Some(log) = self.log.take() {
            let ended = self.ended.take().unwrap_or(Ended::StoppedEarly);
            log.ended(self.sent, &ended);
        }
    }
}

/// A user's books read page by page, one page ahead; a follow then waits
/// for the list to grow and reads on.
pub struct PagedBooks {
    reader: Arc<dyn PageReader>,
    /// Times every page read, when metrics are on.
    read_seconds: Option<Histogram>,
    user_id: u64,
    page_size: u64,
    /// The first rank not yet asked for.
    next_read: u64,
    /// The rank after the last one to send.
    end: u64,
    /// How long the list is known to be: no rank at or past it is read.
    known: u64,
    /// The rank the next page must start at.
    expected: u64,
    /// How many books the read in flight asked for.
    asked: u64,
    current: Option<Arc<BookPage>>,
    position: usize,
    pending: Option<Pending>,
    follow: Option<Following>,
    /// An error ended the stream: nothing more is read or waited for.
    failed: bool,
}

/// The page being read.
enum Pending {
    /// This stream's own read, stopped when the stream is dropped.
    Own(JoinHandle<Result<BookPage, SourceError>>),
    /// A read of a list's newest books, shared by the followers caught up on it.
    Shared(SharedPage),
}

impl PagedBooks {
    /// Starts reading the first page of `ranks` at once.
    pub fn start(
        reader: Arc<dyn PageReader>,
        user_id: u64,
        ranks: Range<u64>,
        page_size: u64,
        read_seconds: Option<Histogram>,
    ) -> Self {
        let mut books = Self::new(reader, user_id, ranks, page_size, read_seconds);
        books.read_ahead();
        books
    }

    /// The books of `ranks`, nothing read yet: [`PagedBooks::follow`] starts them.
    pub fn new(
        reader: Arc<dyn PageReader>,
        user_id: u64,
        ranks: Range<u64>,
        page_size: u64,
        read_seconds: Option<Histogram>,
    ) -> Self {
        Self {
            reader,
            read_seconds,
            user_id,
            page_size: page_size.max(1),
            next_read: ranks.start,
            end: ranks.end,
            known: ranks.end,
            expected: ranks.start,
            asked: 0,
            current: None,
            position: 0,
            pending: None,
            follow: None,
            failed: false,
        }
    }

    /// Follows the list through these ranks: the `known` books that exist,
    /// then each one appended, as `subscription` says the list grew.
    pub fn follow(
        self,
        known: u64,
        subscription: Subscription,
        metrics: Option<FollowMetrics>,
    ) -> Self {
        let mut books = self;
        books.known = known.min(books.end);
        books.follow = Some(Following {
            subscription: Some(subscription),
            waiting: None,
            woken_at: None,
            metrics,
        });
        books.read_ahead();
        books
    }

    /// Asks for the next page, if any is known to exist.
    fn read_ahead(&mut self) {
        let stop = self.end.min(self.known);
        if self.pending.is_some() || self.next_read >= stop {
            return;
        }
        let limit = self.page_size.min(stop - self.next_read);
        let from = self.next_read;
        self.next_read += limit;
        self.asked = limit;
        let (reader, user_id) = (self.reader.clone(), self.user_id);
        let timer = self.read_seconds.clone();
        // Spawned, so the read runs while the current page is being sent.
        // Nothing is read or allocated here when another follower's read is
        // shared instead.
        let spawn = move || {
            let read = reader.read_page(user_id, from, limit);
            tokio::spawn(async move {
                let started = Instant::now();
                let page = read.await;
                if let Some(timer) = timer {
                    timer.observe(started.elapsed().as_secs_f64());
                }
                page
            })
        };
        let shared = self.follow.as_ref().and_then(|f| f.subscription.as_ref());
        self.pending = Some(match shared {
            Some(subscription) => {
                let reader = self.reader.clone();
                Pending::Shared(subscription.shared_read(from, limit, move || {
                    spawn()
                        .map(move |joined| match joined {
                            Ok(page) => page.map(Arc::new),
                            Err(join_error) => Err(stopped_reader(reader.store(), join_error)),
                        })
                        .boxed()
                }))
            }
            None => Pending::Own(spawn()),
        });
    }

    /// Checks that a page holds exactly the ranks asked for, in order.
    fn accept(&mut self, page: &BookPage) -> Result<(), SourceError> {
        let first = self.expected;
        let asked = self.asked;
        let inconsistent = |detail: String| SourceError::Inconsistent {
            store: self.reader.store().to_owned(),
            detail,
        };
        let got = page.len() as u64;
        match page.get(0) {
            Some(book) if book.id != first => {
                return Err(inconsistent(format!(
                    "user {}'s list skips from rank {} to {}",
                    self.user_id,
                    first.saturating_sub(1),
                    book.id
                )));
            }
            _ => {}
        }
        if page.last_id().is_some_and(|last| last != first + got - 1) || got > asked {
            return Err(inconsistent(format!(
                "user {}'s ranks from {first} are not consecutive",
                self.user_id
            )));
        }
        if got < asked {
            return Err(inconsistent(format!(
                "user {}'s list ends at rank {} but its length says {}",
                self.user_id,
                first + got,
                self.known
            )));
        }
        self.expected = first + got;
        Ok(())
    }
}

impl Stream for PagedBooks {
    type Item = Result<OutgoingBook, SourceError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.failed {
                return Poll::Ready(None);
            }
            if let Some(page) = &self.current {
                if self.position < page.len() {
                    let book = OutgoingBook::Row {
                        page: page.clone(),
                        index: self.position,
                    };
                    self.position += 1;
                    if let Some(follow) = &mut self.follow
                        && let (Some(at), Some(metrics)) = (follow.woken_at.take(), &follow.metrics)
                    {
                        metrics.lag.observe(at.elapsed().as_secs_f64());
                    }
                    return Poll::Ready(Some(Ok(book)));
                }
                self.current = None;
            }
            let Some(pending) = self.pending.as_mut() else {
                if self.expected >= self.end {
                    return Poll::Ready(None);
                }
                match ready!(self.poll_grown(cx)) {
                    None => return Poll::Ready(None),
                    Some(Ok(grown)) => {
                        self.known = self.known.max(grown.length).min(self.end);
                        self.read_ahead();
                        continue;
                    }
                    Some(Err(Closed)) => {
                        self.failed = true;
                        return Poll::Ready(Some(Err(SourceError::ShuttingDown)));
                    }
                }
            };
            let read = match pending {
                Pending::Own(handle) => match ready!(Pin::new(handle).poll(cx)) {
                    Ok(page) => page.map(Arc::new),
                    Err(join_error) => Err(stopped_reader(self.reader.store(), join_error)),
                },
                Pending::Shared(shared) => ready!(Pin::new(shared).poll(cx)),
            };
            self.pending = None;
            let page = read.and_then(|page| self.accept(&page).map(|()| page));
            match page {
                Ok(page) => {
                    if let Some(metrics) = self.follow.as_ref().and_then(|f| f.metrics.as_ref()) {
                        metrics.delivered.inc_by(page.len() as u64);
                    }
                    self.read_ahead();
                    self.current = Some(page);
                    self.position = 0;
                }
                // No page is read after a failed one: the stream ends with its error.
                Err(error) => {
                    self.failed = true;
                    return Poll::Ready(Some(Err(error)));
                }
            }
        }
    }
}

fn stopped_reader(store: &str, join_error: tokio::task::JoinError) -> SourceError {
    SourceError::Failed {
        store: store.to_owned(),
        cause: super::error::StoreFailure::during("the page reader stopped", join_error),
    }
}

impl Drop for PagedBooks {
    fn drop(&mut self) {
        // The caller left: the read in flight is of no use to anyone.
        if let Some(Pending::Own(pending)) = self.pending.take() {
            pending.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bookstream::catalog;
    use futures::StreamExt;

    use super::*;

    /// Pages from the generated catalog, recording every read, optionally
    /// leaving a rank out to play a store whose rows break the rules.
    #[derive(Default)]
    struct CatalogPages {
        reads: Mutex<Vec<(u64, u64)>>,
        missing_rank: Option<u64>,
    }

    impl PageReader for CatalogPages {
        fn read_page(
            &self,
            user_id: u64,
            from: u64,
            limit: u64,
        ) -> BoxFuture<'static, Result<BookPage, SourceError>> {
            self.reads.lock().unwrap().push((from, limit));
            let mut page = BookPage::default();
            for book in catalog::books(user_id, from..from + limit) {
                if Some(book.id) != self.missing_rank {
                    page.push(book.view()).unwrap();
                }
            }
            Box::pin(async move { Ok(page) })
        }

        fn store(&self) -> &str {
            "test pages"
        }
    }

    #[tokio::test]
    async fn pages_are_read_by_keyset_and_yield_every_book_in_order() {
        let reader = Arc::new(CatalogPages::default());
        let books: Vec<_> = PagedBooks::start(reader.clone(), 4, 5..2505, 1000, None)
            .map(|book| book.unwrap().to_message())
            .collect()
            .await;
        assert_eq!(books, catalog::books(4, 5..2505).collect::<Vec<_>>());
        assert_eq!(
            *reader.reads.lock().unwrap(),
            [(5, 1000), (1005, 1000), (2005, 500)]
        );
    }

    #[tokio::test]
    async fn at_most_one_page_is_read_ahead_of_the_one_being_sent() {
        let reader = Arc::new(CatalogPages::default());
        let mut books = PagedBooks::start(reader.clone(), 1, 0..10_000, 100, None);
        for _ in 0..150 {
            books.next().await.unwrap().unwrap();
        }
        // Sending page 2 (ranks 100..200): page 3 may be read, page 4 not yet.
        assert!(reader.reads.lock().unwrap().len() <= 3);
        drop(books);
    }

    #[tokio::test]
    async fn a_gap_in_the_ranks_ends_the_stream_with_an_error() {
        let reader = Arc::new(CatalogPages {
            missing_rank: Some(150),
            ..CatalogPages::default()
        });
        let results: Vec<_> = PagedBooks::start(reader, 1, 0..300, 100, None)
            .collect()
            .await;
        assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 100);
        assert!(matches!(
            results.last(),
            Some(Err(SourceError::Inconsistent { .. }))
        ));
    }

    #[tokio::test]
    async fn generated_books_are_handles_of_the_catalog() {
        let books: Vec<_> = BookStream::generated(3, 7..12)
            .map(|book| book.unwrap().to_message())
            .collect()
            .await;
        assert_eq!(books, catalog::books(3, 7..12).collect::<Vec<_>>());
    }
}
