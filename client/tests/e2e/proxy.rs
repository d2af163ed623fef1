//! A TCP proxy that cuts connections: the network breaking under a stream,
//! for real, between a real client and a real server.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// Forwards connections to `upstream`. The n-th connection is cut (both
/// directions closed) once `cuts[n]` bytes have flowed from the server to
/// the client; connections after the listed cuts are never cut.
pub(crate) struct CuttingProxy {
    pub(crate) addr: SocketAddr,
    /// Bytes forwarded from the server to the client, all connections together.
    pub(crate) forwarded: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

/// What the proxy does once its listed cuts are used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterCuts {
    /// Forward new connections untouched: the network healed.
    Forward,
    /// Refuse new connections: the server is gone for good.
    Refuse,
}

impl CuttingProxy {
    pub(crate) async fn start(upstream: SocketAddr, cuts: &[u64]) -> Self {
        Self::start_with(upstream, cuts, AfterCuts::Forward).await
    }

    pub(crate) async fn start_with(
        upstream: SocketAddr,
        cuts: &[u64],
        after_cuts: AfterCuts,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cuts = Arc::new(Mutex::new(cuts.iter().copied().collect::<VecDeque<_>>()));
        let forwarded = Arc::new(AtomicU64::new(0));
        let counter = forwarded.clone();
        let task = tokio::spawn(async move {
            loop {
                let cut_after = cuts.lock().unwrap().pop_front();
                if cut_after.is_none() && after_cuts == AfterCuts::Refuse {
                    // Dropping the listener refuses every later connection.
                    return;
                }
                let Ok((downstream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(forward(downstream, upstream, cut_after, counter.clone()));
            }
        });
        Self {
            addr,
            forwarded,
            task,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    downstream: TcpStream,
    upstream: SocketAddr,
    cut_after: Option<u64>,
    forwarded: Arc<AtomicU64>,
) {
    let Ok(upstream) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = downstream.into_split();
    let (mut server_read, mut server_write) = upstream.into_split();
    let to_server = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        // The client is gone: so is the server's side.
        let _ = server_write.shutdown().await;
    };
    let to_client = async {
        let mut budget = cut_after.unwrap_or(u64::MAX);
        let mut buffer = vec![0u8; 16 * 1024];
        while budget > 0 {
            let want = buffer
                .len()
                .min(usize::try_from(budget).unwrap_or(usize::MAX));
            let Ok(read) = server_read.read(&mut buffer[..want]).await else {
                break;
            };
            if read == 0 || client_write.write_all(&buffer[..read]).await.is_err() {
                break;
            }
            budget -= read as u64;
            forwarded.fetch_add(read as u64, Ordering::Relaxed);
        }
        // The cut ends the connection after the bytes already forwarded,
        // which the client reads first however busy the machine is: a
        // client that had not read them yet when the connection closed
        // would lose its writes (a broken pipe) before seeing its books, and
        // the test would depend on the machine's speed.
        let _ = client_write.shutdown().await;
    };
    // The connection ends once the client closes its side too, as it does
    // when it reads the end of the connection.
    tokio::join!(to_server, to_client);
}
