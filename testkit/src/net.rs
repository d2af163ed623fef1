//! Loopback plumbing for tests.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// A local address where nothing listens (yet): bound, read, released.
pub async fn vacant_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding port 0");
    listener
        .local_addr()
        .expect("a bound listener has an address")
}

/// Forwards every connection made to `listen` on to `upstream`, until
/// dropped: a service that appears at an address where nothing answered.
pub struct Forwarder {
    task: tokio::task::JoinHandle<()>,
}

impl Forwarder {
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind(listen)
            .await
            .expect("the forwarder's address is free");
        let task = tokio::spawn(async move {
            while let Ok((mut downstream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut upstream) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await;
                    }
                });
            }
        });
        Self { task }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
