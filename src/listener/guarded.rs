//! An admitted connection's byte stream, watched until its first request
//! head is complete, and the TCP listener that hands such connections out.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    time::Sleep,
};

use super::{Admission, Gate, head::HeadSniffer};

impl Admission {
    /// Wraps the connection's byte stream (plain or decrypted), which is
    /// watched until its first request head is complete.
    pub fn guard<S>(self, io: S) -> Guarded<S> {
        let sleep = Box::pin(tokio::time::sleep_until(self.deadline()));
        Guarded {
            io,
            admission: self,
            head: HeadSniffer::default(),
            sleep: Some(sleep),
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
        if this.admission.is_shed(cx.waker()) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "shed: the connection limit was reached before this connection sent a request",
            )));
        }
        if sleep.as_mut().poll(cx).is_ready() {
            this.admission.count_header_timeout();
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
            if this.admission.prove() {
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
                    limit = self.gate.limits().max_connections,
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
