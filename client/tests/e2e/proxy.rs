//! A TCP proxy that cuts connections: the network breaking under a stream,
//! for real, between a real client and a real server.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
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
    task: tokio::task::JoinHandle<()>,
}

impl CuttingProxy {
    pub(crate) async fn start(upstream: SocketAddr, cuts: &[u64]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cuts = Arc::new(Mutex::new(cuts.iter().copied().collect::<VecDeque<_>>()));
        let task = tokio::spawn(async move {
            while let Ok((downstream, _)) = listener.accept().await {
                let cut_after = cuts.lock().unwrap().pop_front();
                tokio::spawn(forward(downstream, upstream, cut_after));
            }
        });
        Self { addr, task }
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

async fn forward(downstream: TcpStream, upstream: SocketAddr, cut_after: Option<u64>) {
    let Ok(upstream) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = downstream.into_split();
    let (mut server_read, mut server_write) = upstream.into_split();
    let to_server = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
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
        }
    };
    // Whichever direction ends first (a cut, or either side closing) ends both.
    tokio::select! {
        () = to_server => {},
        () = to_client => {},
    }
}
