//! TLS for the trigger listener: an axum [`Listener`] that hands out only
//! connections whose TLS handshake completed. Handshakes run side by side,
//! each within the connection's header read deadline (and abandoned if the
//! connection is shed for a newcomer), so a peer that connects and says
//! nothing cannot stall everyone else's accept.

use std::{io, net::SocketAddr, path::Path, sync::Arc};

use axum::serve::Listener;
use bookstream::listener::{Guarded, GuardedListener};
use tokio::{net::TcpStream, sync::mpsc, task::JoinHandle};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    },
    server::TlsStream,
};

/// Handshaken connections waiting for axum to take them.
const READY_QUEUE: usize = 64;

/// Why the trigger listener's TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the PEM {what} {path}: {source}")]
    Pem {
        what: &'static str,
        path: String,
        source: rustls::pki_types::pem::Error,
    },
    #[error("the TLS certificate and key do not make a server identity: {0}")]
    Identity(#[from] rustls::Error),
}

/// The TLS server configuration from a PEM certificate (chain) and key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let pem_error = |what, path: &Path| {
        let path = path.display().to_string();
        move |source| TlsError::Pem { what, path, source }
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(pem_error("certificate", cert))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem_error("key", key))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts TCP connections and yields them once their handshake is done.
pub struct TlsListener {
    ready: mpsc::Receiver<(Guarded<TlsStream<TcpStream>>, SocketAddr)>,
    local_addr: SocketAddr,
    accepting: JoinHandle<()>,
}

impl TlsListener {
    pub fn new(mut tcp: GuardedListener, config: Arc<rustls::ServerConfig>) -> io::Result<Self> {
        let local_addr = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (sender, ready) = mpsc::channel(READY_QUEUE);
        let accepting = tokio::spawn(async move {
            loop {
                let (stream, peer, admission) = tcp.accept_admitted().await;
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout_at(admission.deadline(), acceptor.accept(stream));
                    tokio::select! {
                        done = handshake => match done {
                            Ok(Ok(tls)) => {
                                let _ = sender.send((admission.guard(tls), peer)).await;
                            }
                            Ok(Err(error)) => tracing::debug!(%peer, "TLS handshake failed: {error}"),
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        },
                        () = admission.shed() => {
                            tracing::debug!(%peer, "TLS handshake abandoned: the connection was shed");
                        }
                    }
                });
            }
        });
        Ok(Self {
            ready,
            local_addr,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl Listener for TlsListener {
    type Io = Guarded<TlsStream<TcpStream>>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept task only ends when the listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}
