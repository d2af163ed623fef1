//! Every listener of Bookstream (the server's gRPC and REST ones, the
//! client's trigger listener) admits connections through a [`Gate`]: at most
//! `max_connections` are open at once, and a connection must deliver its
//! first request head within `header_read_timeout` or it is closed.
//!
//! A flood of slow connections (slowloris) must not lock out the callers who
//! send a request at once. So when the cap is reached, a new connection takes
//! the place of the oldest one that has not yet sent a complete request head;
//! only when every open connection has sent one is the new connection closed.
//! A connection that sends its head in time is left alone from then on.

pub mod head;

use std::{
    collections::VecDeque,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU8, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::task::AtomicWaker;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    time::{Instant, Sleep},
};

use head::HeadSniffer;

/// The limits every listener applies to its connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long a new connection has to deliver its first request head
    /// (TLS handshake included).
    pub header_read_timeout: Duration,
}

impl ConnectionLimits {
    /// `--max-connections` and `--header-read-timeout` as given, the cap
    /// lowered (with a warning) so that `listeners` listeners full fit in the
    /// file-descriptor limit once `reserve` descriptors are kept for the rest.
    pub fn fitted(
        max_connections: u64,
        header_read_timeout: Duration,
        listeners: usize,
        reserve: u64,
    ) -> Self {
        let wanted = usize::try_from(max_connections).unwrap_or(usize::MAX);
        let fitted = fit_to_descriptors(wanted, listeners, reserve);
        if fitted < wanted {
            tracing::warn!(
                max_connections = fitted,
                wanted,
                "--max-connections lowered to fit the file-descriptor limit (raise it with ulimit -n)"
            );
        }
        Self {
            max_connections: fitted,
            header_read_timeout,
        }
    }
}

/// Why a listener closed a connection itself; one counter each, so an
/// operator sees a flood in `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct ClosedCounters {
    /// Closed on accept: the cap was reached and every open connection had
    /// sent a request.
    pub limit: Counter,
    /// Closed to make room for a new connection while it still had not sent
    /// a complete request head.
    pub shed: Counter,
    /// Closed because its first request head did not arrive in time.
    pub header_timeout: Counter,
}

/// The labels of `bookstream_connections_closed`: which listener, and why.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClosedLabels {
    pub listener: &'static str,
    pub reason: &'static str,
}

/// The metric's name and help, the same in every binary.
pub const CLOSED_METRIC: (&str, &str) = (
    "bookstream_connections_closed",
    "Connections a listener closed itself, by listener and reason: limit (refused at the \
     connection cap), shed (gave way to a new connection before sending a request), \
     header_timeout (no complete request head within the header read timeout)",
);

impl ClosedCounters {
    /// The counters of one listener, taken from the metric's family.
    pub fn in_family(family: &Family<ClosedLabels, Counter>, listener: &'static str) -> Self {
        let counter = |reason| {
            family
                .get_or_create(&ClosedLabels { listener, reason })
                .clone()
        };
        Self {
            limit: counter("limit"),
            shed: counter("shed"),
            header_timeout: counter("header_timeout"),
        }
    }
}

/// The file descriptors this process may open, after raising the soft limit
/// to the hard one (as most servers do at start-up). `None` when unknown.
pub fn descriptor_limit() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the struct given.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        Some(limit.rlim_cur)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

/// The per-listener cap that fits `listeners` listeners, each asking for
/// `wanted`, into the descriptor limit once `reserve` descriptors are kept
/// for everything else (files, store connections, upstream channels). Past
/// the descriptor limit `accept` itself fails, and then no caller is served,
/// not even the health probe; within it the gate sheds slow connections.
pub fn fit_to_descriptors(wanted: usize, listeners: usize, reserve: u64) -> usize {
    match descriptor_limit() {
        Some(limit) => {
            let available = limit.saturating_sub(reserve) / listeners.max(1) as u64;
            wanted.min(usize::try_from(available).unwrap_or(usize::MAX).max(1))
        }
        None => wanted,
    }
}

/// Counts the open connections of one listener and picks which one gives way.
#[derive(Debug)]
pub struct Gate {
    state: Mutex<GateState>,
    limits: ConnectionLimits,
    closed: ClosedCounters,
}

#[derive(Debug, Default)]
struct GateState {
    open: usize,
    /// The most connections open since memory was last given back.
    peak: usize,
    /// Admitted connections in the order they arrived, some of which may
    /// since have sent their head or closed; those are skipped and pruned.
    waiting: VecDeque<Arc<Slot>>,
}

/// One admitted connection's standing.
#[derive(Debug, Default)]
struct Slot {
    state: AtomicU8,
    waker: AtomicWaker,
}

/// Open connections that count as a flood worth giving memory back after.
const FLOOD: usize = 256;

const WAITING: u8 = 0;
const PROVEN: u8 = 1;
const SHED: u8 = 2;
const CLOSED: u8 = 3;

impl Gate {
    pub fn new(limits: ConnectionLimits, closed: ClosedCounters) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(GateState::default()),
            limits: ConnectionLimits {
                max_connections: limits.max_connections.max(1),
                ..limits
            },
            closed,
        })
    }

    pub fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    /// Admits a new connection, shedding the oldest slow one if the cap is
    /// reached; `None` if the connection must be closed.
    pub fn admit(self: &Arc<Self>) -> Option<Admission> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.open >= self.limits.max_connections && !state.shed_oldest() {
            self.closed.limit.inc();
            return None;
        }
        if state.open >= self.limits.max_connections {
            self.closed.shed.inc();
        } else {
            state.open += 1;
            state.peak = state.peak.max(state.open);
        }
        let slot = Arc::new(Slot::default());
        state.waiting.push_back(slot.clone());
        state.prune();
        Some(Admission {
            slot,
            gate: self.clone(),
            deadline: Instant::now() + self.limits.header_read_timeout,
        })
    }

    /// How many connections are open now.
    pub fn open(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open
    }
}

impl GateState {
    /// Drops the entries of connections that sent their head or closed,
    /// once they outnumber the open ones. Besides bounding the queue, this
    /// frees their slots promptly: a slot left behind pins the heap page it
    /// sits on (measured: after 2,000 connections, left-behind slots kept
    /// 16 MB of freed connection buffers from going back to the system).
    fn prune(&mut self) {
        if self.waiting.len() > 2 * self.open + 16 {
            self.waiting
                .retain(|slot| slot.state.load(Ordering::Acquire) == WAITING);
        }
    }

    /// Marks the oldest connection still waiting for its head as shed; its
    /// place goes to the caller. False if none is waiting.
    fn shed_oldest(&mut self) -> bool {
        while let Some(slot) = self.waiting.pop_front() {
            if slot
                .state
                .compare_exchange(WAITING, SHED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                slot.waker.wake();
                return true;
            }
        }
        false
    }
}

/// A connection's place under the cap, given back when it is dropped.
#[derive(Debug)]
pub struct Admission {
    slot: Arc<Slot>,
    gate: Arc<Gate>,
    deadline: Instant,
}

impl Admission {
    /// When the first request head must have arrived.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Resolves if this connection is shed to make room for another; lets a
    /// TLS handshake be abandoned as a plain connection would be.
    pub async fn shed(&self) {
        std::future::poll_fn(|cx| {
            self.slot.waker.register(cx.waker());
            if self.slot.state.load(Ordering::Acquire) == SHED {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// Wraps the connection's byte stream (plain or decrypted), which is
    /// watched until its first request head is complete.
    pub fn guard<S>(self, io: S) -> Guarded<S> {
        let sleep = Box::pin(tokio::time::sleep_until(self.deadline));
        Guarded {
            io,
            admission: self,
            head: HeadSniffer::default(),
            sleep: Some(sleep),
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let previous = self.slot.state.swap(CLOSED, Ordering::AcqRel);
        // A shed connection's place was handed over when it was shed.
        if previous != SHED {
            let mut state = self
                .gate
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            state.open = state.open.saturating_sub(1);
            state.prune();
            // A flood of connections has ebbed: their buffers were freed, but
            // malloc keeps freed pages cached, so give them back (measured:
            // 2,000 connections left a client at 73 MB instead of 8).
            if state.peak >= FLOOD && state.open <= state.peak / 4 {
                state.peak = state.open;
                drop(state);
                crate::memory::release_free_memory();
            }
        }
    }
}

/// An admitted connection: the stream, its place under the cap, and the
/// deadline for its first request head.
#[derive(Debug)]
pub struct Guarded<S> {
    io: S,
    admission: Admission,
    head: HeadSniffer,
    /// Until the first head is complete.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<S> Guarded<S> {
    pub fn get_ref(&self) -> &S {
        &self.io
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let Some(sleep) = this.sleep.as_mut() else {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        };
        let slot = &this.admission.slot;
        slot.waker.register(cx.waker());
        if slot.state.load(Ordering::Acquire) == SHED {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "shed: the connection limit was reached before this connection sent a request",
            )));
        }
        if sleep.as_mut().poll(cx).is_ready() {
            this.admission.gate.closed.header_timeout.inc();
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request head did not arrive within the header read timeout",
            )));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read
            && this.head.feed(&buf.filled()[before..])
        {
            // The head is in: from now on the connection is the protocol's.
            if slot
                .state
                .compare_exchange(WAITING, PROVEN, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                this.sleep = None;
            }
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Guarded<TcpStream> {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// A TCP listener behind a [`Gate`].
#[derive(Debug)]
pub struct GuardedListener {
    tcp: TcpListener,
    gate: Arc<Gate>,
}

impl GuardedListener {
    pub fn new(tcp: TcpListener, gate: Arc<Gate>) -> Self {
        Self { tcp, gate }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// The next admitted TCP connection, not yet guarded (TLS wraps it first).
    pub async fn accept_admitted(&mut self) -> (TcpStream, SocketAddr, Admission) {
        loop {
            let (stream, peer) = match self.tcp.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors and the like: pause rather than spin.
                    tracing::warn!("accepting a connection failed: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            match self.gate.admit() {
                Some(admission) => {
                    // Books are small writes; Nagle would hold them back.
                    let _ = stream.set_nodelay(true);
                    return (stream, peer, admission);
                }
                None => tracing::debug!(
                    %peer,
                    limit = self.gate.limits.max_connections,
                    "connection limit reached; closing"
                ),
            }
        }
    }

    /// The next admitted connection, guarded.
    pub async fn accept_guarded(&mut self) -> (Guarded<TcpStream>, SocketAddr) {
        let (stream, peer, admission) = self.accept_admitted().await;
        (admission.guard(stream), peer)
    }

    /// The connections as a stream, for tonic's `serve_with_incoming`.
    pub fn into_incoming(
        self,
    ) -> impl futures::Stream<Item = io::Result<Guarded<TcpStream>>> + Send + 'static {
        futures::stream::unfold(self, |mut listener| async move {
            let (connection, _) = listener.accept_guarded().await;
            Some((Ok(connection), listener))
        })
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = Guarded<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        self.accept_guarded().await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

#[cfg(test)]
mod tests;
