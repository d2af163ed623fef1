//! Following a list as it grows: followers wait on a per-user wake-up, not
//! on the store. A commit tells [`Wakeups`] the list's new length, once per
//! batch, and every follower of that user on this server reads on. Commits
//! reach it from this server's own appends at once, from other servers
//! through PostgreSQL's `NOTIFY` (`postgres.rs`: one listening connection per
//! server), and from other processes writing an SQLite file through its
//! `data_version` (`sqlite.rs`: polled while anyone follows). `retention.rs`
//! removes books past the configured retention.

pub mod postgres;
pub mod retention;
pub mod sqlite;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use bookstream::book::BookPage;
use futures::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::source::SourceError;

/// How follows are kept alive and woken, and how long lists keep their books.
#[derive(Debug, Clone, clap::Args)]
pub struct FollowArgs {
    #[command(flatten)]
    pub keepalive: bookstream::keepalive::KeepaliveArgs,

    /// How often an SQLite store is checked for books appended by another
    /// process (PRAGMA data_version), while anyone follows; this server's
    /// own appends wake followers at once.
    #[arg(long, env = "BOOKSTREAM_SQLITE_POLL_INTERVAL", default_value = "100ms",
          value_parser = humantime::parse_duration)]
    pub sqlite_poll_interval: Duration,

    #[command(flatten)]
    pub retention: retention::Retention,
}

/// What a follower last heard of its list: its length, and when this server learnt it.
#[derive(Debug, Clone, Copy)]
pub struct Grown {
    pub length: u64,
    pub at: Instant,
}

/// The wake-ups of every followed list on this server; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Wakeups {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// One entry per followed user, dropped with its last follower.
    lists: Mutex<HashMap<u64, Followed>>,
    /// The server is shutting down: every follower ends.
    closed: CancellationToken,
    /// Followers now (`bookstream_followers`).
    followers: Gauge,
}

/// One followed list: its wake-up, and the read of its newest books that
/// the followers who are caught up share.
#[derive(Debug)]
struct Followed {
    grown: watch::Sender<Grown>,
    tail: Arc<Mutex<Option<TailRead>>>,
}

/// A page read once for every follower that asks for the same ranks: when a
/// batch wakes a hundred followers of one list, the store is read once.
pub type SharedPage = Shared<BoxFuture<'static, Result<Arc<BookPage>, SourceError>>>;

#[derive(Debug)]
struct TailRead {
    from: u64,
    limit: u64,
    read: SharedPage,
}

/// The server shuts down: a follower ends, to be resumed elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server is shutting down; resume elsewhere")]
pub struct Closed;

impl Wakeups {
    /// The gauge of followers now, to register with the metrics.
    pub fn followers_gauge(&self) -> Gauge {
        self.inner.followers.clone()
    }

    /// Followers now.
    pub fn followers(&self) -> usize {
        usize::try_from(self.inner.followers.get()).unwrap_or(0)
    }

    /// Starts following `user_id`'s list. Subscribe before reading the
    /// list's length: a commit after the read then always wakes the follower.
    pub fn subscribe(&self, user_id: u64) -> Subscription {
        let mut lists = self.lists();
        let followed = lists.entry(user_id).or_insert_with(|| Followed {
            grown: watch::Sender::new(Grown {
                length: 0,
                at: Instant::now(),
            }),
            tail: Arc::default(),
        });
        let receiver = followed.grown.subscribe();
        let tail = followed.tail.clone();
        self.inner.followers.inc();
        Subscription {
            user_id,
            receiver,
            tail,
            wakeups: self.clone(),
        }
    }

    /// `user_id`'s list is now `length` books long (committed). Lists nobody
    /// follows here cost one map lookup.
    pub fn committed(&self, user_id: u64, length: u64) {
        let lists = self.lists();
        if let Some(followed) = lists.get(&user_id) {
            followed.grown.send_if_modified(|known| {
                let grew = length > known.length;
                if grew {
                    *known = Grown {
                        length,
                        at: Instant::now(),
                    };
                }
                grew
            });
        }
    }

    /// The users followed on this server now: after a lost notification
    /// channel, their lengths are read again.
    pub fn followed(&self) -> Vec<u64> {
        self.lists().keys().copied().collect()
    }

    /// Ends every follow, now and from now on: the server is shutting down.
    pub fn close(&self) {
        self.inner.closed.cancel();
    }

    fn lists(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Followed>> {
        self.inner
            .lists
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// One follower's wake-up; unsubscribed when dropped.
#[derive(Debug)]
pub struct Subscription {
    user_id: u64,
    receiver: watch::Receiver<Grown>,
    tail: Arc<Mutex<Option<TailRead>>>,
    wakeups: Wakeups,
}

impl Subscription {
    /// The page of ranks `from .. from + limit`: the read another follower
    /// of this list already started for them, or `read`, shared from now on.
    pub fn shared_read(
        &self,
        from: u64,
        limit: u64,
        read: impl FnOnce() -> BoxFuture<'static, Result<Arc<BookPage>, SourceError>>,
    ) -> SharedPage {
        let mut tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        match &*tail {
            Some(shared) if shared.from == from && shared.limit == limit => shared.read.clone(),
            _ => {
                let shared = read().shared();
                *tail = Some(TailRead {
                    from,
                    limit,
                    read: shared.clone(),
                });
                shared
            }
        }
    }

    /// Waits until the list is known to hold more than `beyond` books, or the
    /// server shuts down.
    pub async fn grown(&mut self, beyond: u64) -> Result<Grown, Closed> {
        loop {
            let known = *self.receiver.borrow_and_update();
            if self.wakeups.inner.closed.is_cancelled() {
                return Err(Closed);
            }
            if known.length > beyond {
                return Ok(known);
            }
            tokio::select! {
                changed = self.receiver.changed() => {
                    // The sender lives while anyone subscribes: it cannot be gone.
                    if changed.is_err() {
                        return Err(Closed);
                    }
                }
                () = self.wakeups.inner.closed.cancelled() => return Err(Closed),
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.wakeups.inner.followers.dec();
        let mut lists = self.wakeups.lists();
        // This receiver is still counted: it is dropped after this body.
        if lists
            .get(&self.user_id)
            .is_some_and(|followed| followed.grown.receiver_count() <= 1)
        {
            lists.remove(&self.user_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_commit_wakes_the_followers_of_that_user_only() {
        let wakeups = Wakeups::default();
        let mut first = wakeups.subscribe(1);
        let mut second = wakeups.subscribe(1);
        let mut other = wakeups.subscribe(2);
        wakeups.committed(1, 10);
        assert_eq!(first.grown(0).await.unwrap().length, 10);
        assert_eq!(second.grown(5).await.unwrap().length, 10);
        let waiting = tokio::time::timeout(std::time::Duration::ZERO, other.grown(0)).await;
        assert!(waiting.is_err(), "user 2's list did not grow");
        assert_eq!(wakeups.followers(), 3);
    }

    #[tokio::test]
    async fn a_shorter_length_never_moves_a_list_back() {
        let wakeups = Wakeups::default();
        let mut follower = wakeups.subscribe(1);
        wakeups.committed(1, 10);
        wakeups.committed(1, 4);
        assert_eq!(follower.grown(0).await.unwrap().length, 10);
    }

    #[tokio::test]
    async fn the_last_follower_gone_forgets_the_list() {
        let wakeups = Wakeups::default();
        let first = wakeups.subscribe(7);
        let second = wakeups.subscribe(7);
        drop(first);
        assert_eq!(wakeups.followed(), [7]);
        drop(second);
        assert!(wakeups.followed().is_empty());
        assert_eq!(wakeups.followers(), 0);
    }

    #[tokio::test]
    async fn followers_asking_for_the_same_ranks_share_one_read() {
        let wakeups = Wakeups::default();
        let (first, second) = (wakeups.subscribe(1), wakeups.subscribe(1));
        let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let read = || {
            let reads = reads.clone();
            move || -> BoxFuture<'static, Result<Arc<BookPage>, SourceError>> {
                reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Box::pin(async { Ok(Arc::new(BookPage::default())) })
            }
        };
        let a = first.shared_read(10, 5, read());
        let b = second.shared_read(10, 5, read());
        let c = second.shared_read(15, 5, read());
        assert!(a.await.is_ok() && b.await.is_ok() && c.await.is_ok());
        assert_eq!(reads.load(std::sync::atomic::Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn closing_ends_every_follower_waiting_or_not() {
        let wakeups = Wakeups::default();
        let mut waiting = wakeups.subscribe(1);
        let closer = wakeups.clone();
        let waited = tokio::spawn(async move { waiting.grown(0).await });
        closer.close();
        assert_eq!(waited.await.unwrap().unwrap_err(), Closed);
        let mut late = wakeups.subscribe(1);
        wakeups.committed(1, 3);
        assert_eq!(late.grown(0).await.unwrap_err(), Closed);
    }
}
