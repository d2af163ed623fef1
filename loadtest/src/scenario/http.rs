//! The REST scenarios' shared HTTP/1.1 client: a keep-alive pool of at most
//! `--connections` connections, shared by all users.
//!
//! Each request runs on a connection checked out for its whole exchange (an
//! HTTP/1.1 connection carries one request at a time anyway), and the
//! connection is driven by the task that uses it instead of by a task of its
//! own. That saves two task hand-offs per request, which on a small machine
//! is the difference between measuring the server and measuring the harness
//! (hyper-util's pooled client reached ~85% of wrk's requests/s, this ~95%).

use std::{
    future::Future,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{
    Request, Response, StatusCode, Uri,
    body::Incoming,
    client::conn::http1::{self, Connection, SendRequest},
    header::{AUTHORIZATION, CONTENT_LENGTH, HOST, HeaderValue},
};
use hyper_util::rt::TokioIo;
use tokio::{
    net::TcpStream,
    sync::{OwnedSemaphorePermit, Semaphore},
};

use crate::outcome::{Failure, FailureKind};

/// A pool of connections to one host and the one request a scenario sends.
#[derive(Debug, Clone)]
pub(crate) struct HttpTarget {
    inner: Arc<Pool>,
}

#[derive(Debug)]
struct Pool {
    /// `host:port`, for connecting and for the `Host` header.
    authority: String,
    host_header: HeaderValue,
    /// `Bearer <token>`, when the server requires one.
    authorization: Option<HeaderValue>,
    /// The request target in origin form: path and query.
    target: Uri,
    /// One permit per connection the pool may hold, busy or idle.
    permits: Arc<Semaphore>,
    #[expect(
        clippy::vec_box,
        reason = "a connection's state is large and moves in and out of the pool on every request"
    )]
    idle: Mutex<Vec<Box<Conn>>>,
}

/// One open connection: the handle requests are sent on, and the future
/// that does the connection's I/O whenever it is polled.
struct Conn {
    sender: SendRequest<Empty<Bytes>>,
    driver: Connection<TokioIo<TcpStream>, Empty<Bytes>>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").finish_non_exhaustive()
    }
}

/// A connection checked out of the pool for one exchange.
struct Lease {
    conn: Box<Conn>,
    reused: bool,
    _permit: OwnedSemaphorePermit,
}

impl HttpTarget {
    /// A pool of at most `connections` connections for `uri` (an absolute
    /// `http://` URI with path and query, checked by the caller).
    pub(crate) fn new(uri: &Uri, connections: usize, token: Option<&str>) -> Result<Self, String> {
        let authorization = token
            .map(|token| HeaderValue::from_str(&format!("Bearer {token}")))
            .transpose()
            .map_err(|_| "the token is not usable in a header".to_owned())?;
        let authority = uri.authority().ok_or("no host in the URL")?;
        let port = authority.port_u16().unwrap_or(80);
        let host_header =
            HeaderValue::from_str(authority.as_str()).map_err(|error| error.to_string())?;
        let target = uri
            .path_and_query()
            .map_or("/", |target| target.as_str())
            .parse()
            .map_err(|error: hyper::http::uri::InvalidUri| error.to_string())?;
        Ok(Self {
            inner: Arc::new(Pool {
                authority: format!("{}:{port}", authority.host()),
                host_header,
                authorization,
                target,
                permits: Arc::new(Semaphore::new(connections.max(1))),
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Sends the GET and hands a successful response to `handle`, driving the
    /// connection meanwhile; a non-success status is a failure with the start
    /// of the body as detail. The connection goes back to the pool only
    /// after `handle` read the whole answer successfully.
    pub(crate) async fn exchange<T, F, Fut>(&self, handle: F) -> Result<T, Failure>
    where
        F: FnOnce(Response<Incoming>) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let (mut lease, response) = self.send().await?;
        let status = response.status();
        let (result, open) = if status.is_success() {
            drive(&mut lease.conn.driver, handle(response)).await
        } else {
            let (failure, open) =
                drive(&mut lease.conn.driver, status_failure(status, response)).await;
            (Err(failure), open)
        };
        if open && result.is_ok() {
            self.checkin(lease);
        }
        result
    }

    /// Sends the request on a pooled connection, or on a new one if the
    /// pooled connection turns out to have been closed while idle.
    async fn send(&self) -> Result<(Lease, Response<Incoming>), Failure> {
        let mut lease = self.checkout().await?;
        loop {
            let request = self.request();
            let sender = &mut lease.conn.sender;
            let sent = async move {
                sender.ready().await?;
                sender.send_request(request).await
            };
            match drive(&mut lease.conn.driver, sent).await {
                (Ok(response), _) => return Ok((lease, response)),
                // An idle connection the server closed: any client retries that once.
                (Err(_), _) if lease.reused => {
                    lease.conn = self.connect().await?;
                    lease.reused = false;
                }
                (Err(error), _) => return Err(transport(&error)),
            }
        }
    }

    fn request(&self) -> Request<Empty<Bytes>> {
        let mut request = Request::new(Empty::new());
        *request.uri_mut() = self.inner.target.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.inner.host_header.clone());
        if let Some(authorization) = &self.inner.authorization {
            headers.insert(AUTHORIZATION, authorization.clone());
        }
        request
    }

    async fn checkout(&self) -> Result<Lease, Failure> {
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|error| Failure::new(FailureKind::Transport, error.to_string()))?;
        let idle = self.idle().pop();
        let (conn, reused) = match idle {
            Some(conn) => (conn, true),
            None => (self.connect().await?, false),
        };
        Ok(Lease {
            conn,
            reused,
            _permit: permit,
        })
    }

    fn checkin(&self, lease: Lease) {
        if !lease.conn.sender.is_closed() {
            self.idle().push(lease.conn);
        }
    }

    #[expect(clippy::vec_box, reason = "see `Pool::idle`")]
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Box<Conn>>> {
        // A panic while holding the lock left a plain Vec behind: still usable.
        self.inner
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn connect(&self) -> Result<Box<Conn>, Failure> {
        let stream = TcpStream::connect(&self.inner.authority)
            .await
            .map_err(|error| {
                Failure::new(
                    FailureKind::Transport,
                    format!("cannot connect to {}: {error}", self.inner.authority),
                )
            })?;
        // Small requests and answers: Nagle would only add latency.
        stream
            .set_nodelay(true)
            .map_err(|error| Failure::new(FailureKind::Transport, error.to_string()))?;
        let (sender, driver) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| transport(&error))?;
        Ok(Box::new(Conn { sender, driver }))
    }
}

/// Runs `work` while polling the connection's I/O; also says whether the
/// connection is still open afterwards. If the connection ends first
/// (closed by the server, or broken), `work` still runs to its own end: it
/// then sees the rest of the body or the error.
async fn drive<D, T>(driver: &mut D, work: impl Future<Output = T>) -> (T, bool)
where
    D: Future<Output = hyper::Result<()>> + Unpin,
{
    let mut work = std::pin::pin!(work);
    tokio::select! {
        biased;
        output = &mut work => (output, true),
        _ = driver => (work.await, false),
    }
}

/// The next data frame of a body, `None` at its end.
pub(crate) async fn next_data(body: &mut Incoming) -> Result<Option<Bytes>, Failure> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| transport(&error))?;
        if let Ok(data) = frame.into_data() {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

/// The whole body, contiguous. A body that arrived in one frame (any small
/// answer) is handed over as it is, without a copy.
pub(crate) async fn read_body(response: Response<Incoming>) -> Result<Bytes, Failure> {
    let length = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or(0);
    let mut incoming = response.into_body();
    let Some(first) = next_data(&mut incoming).await? else {
        return Ok(Bytes::new());
    };
    let Some(second) = next_data(&mut incoming).await? else {
        return Ok(first);
    };
    // A lying header must not make the harness allocate gigabytes up front.
    let mut body = Vec::with_capacity(length.clamp(first.len() + second.len(), 256 << 20));
    body.extend_from_slice(&first);
    body.extend_from_slice(&second);
    while let Some(data) = next_data(&mut incoming).await? {
        body.extend_from_slice(&data);
    }
    Ok(body.into())
}

/// A failure for a non-success status, with the start of the body as detail.
async fn status_failure(status: StatusCode, response: Response<Incoming>) -> Failure {
    let detail = match response.into_body().collect().await {
        Ok(collected) => {
            let body = collected.to_bytes();
            String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
        }
        Err(error) => format!("(body unreadable: {error})"),
    };
    Failure::new(FailureKind::HttpStatus(status.as_u16()), detail)
}

fn transport(error: &(dyn std::error::Error + 'static)) -> Failure {
    // hyper's Display is terse ("connection closed before message completed");
    // the cause chain says what happened.
    let mut detail = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    Failure::new(FailureKind::Transport, detail)
}
