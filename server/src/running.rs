//! A server serving on its own task, the way tests and embedders run one.

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

use crate::Server;

/// A server on its own task.
/// It shuts down as it would on SIGTERM when asked to or when dropped.
#[derive(Debug)]
pub struct RunningServer {
    grpc_addr: SocketAddr,
    rest_addr: SocketAddr,
    stop: CancellationToken,
}

impl Server {
    /// Serves on a new task until the returned handle shuts it down or is dropped.
    pub fn spawn(self) -> RunningServer {
        let (grpc_addr, rest_addr) = (self.grpc_addr(), self.rest_addr());
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        tokio::spawn(async move {
            if let Err(error) = self.serve(shutdown).await {
                tracing::error!("the server stopped: {error}");
            }
        });
        RunningServer {
            grpc_addr,
            rest_addr,
            stop,
        }
    }
}

impl RunningServer {
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    pub fn rest_addr(&self) -> SocketAddr {
        self.rest_addr
    }

    /// Starts the shutdown: no new requests; streams get the shutdown grace.
    pub fn shut_down(&self) {
        self.stop.cancel();
    }

    /// The gRPC URL a client is given (`--server`).
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// The REST URL of `path_and_query` (`/health`, `/recommendations?…`).
    pub fn rest_url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.rest_addr)
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
