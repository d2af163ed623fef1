//! Optional shared-token authentication: with `--token` set, every gRPC call
//! and every REST route needs `authorization: Bearer <token>` (the write
//! token does too). Writes are a separate grant: off unless `--write-token`
//! is set, and then only that token admits them.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use subtle::ConstantTimeEq;
use tonic::{Status, service::Interceptor};

/// What a caller without the right token is told; it never says which part was wrong.
pub const REFUSAL: &str = "missing or wrong token: send `authorization: Bearer <token>`";

/// The shared token, if the server has one.
#[derive(Clone, Default)]
pub struct TokenCheck {
    token: Option<Arc<str>>,
    /// The write token also admits its holder to read.
    write_token: Option<Arc<str>>,
}

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret, not even in debug logs.
        let state = if self.token.is_some() {
            "required"
        } else {
            "off"
        };
        f.debug_struct("TokenCheck").field("token", &state).finish()
    }
}

impl TokenCheck {
    pub fn new(token: Option<&str>) -> Self {
        Self {
            token: token.map(Arc::from),
            write_token: None,
        }
    }

    /// The same check, also admitting the holder of `write_token`.
    pub fn with_write_token(mut self, write_token: Option<&str>) -> Self {
        self.write_token = write_token.map(Arc::from);
        self
    }

    /// Whether an `authorization` header value carries the token (always,
    /// when the server has none). Constant time, so timing leaks nothing.
    fn admits(&self, authorization: Option<&[u8]>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let presented = bearer(authorization);
        let writer = self
            .write_token
            .as_ref()
            .is_some_and(|write_token| bool::from(presented.ct_eq(write_token.as_bytes())));
        bool::from(presented.ct_eq(token.as_bytes())) | writer
    }
}

fn bearer(authorization: Option<&[u8]>) -> &[u8] {
    authorization
        .and_then(|value| value.strip_prefix(b"Bearer "))
        .unwrap_or_default()
}

/// Who may write: nobody unless the server has a write token, then only its holder.
#[derive(Clone, Default)]
pub struct WriteAccess {
    write_token: Option<Arc<str>>,
    read_token: Option<Arc<str>>,
}

impl std::fmt::Debug for WriteAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.write_token.is_some() {
            "on"
        } else {
            "off"
        };
        f.debug_struct("WriteAccess")
            .field("writes", &state)
            .finish()
    }
}

/// Why a write was refused; it never says which part of a token was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriteRefusal {
    #[error(
        "writes are off on this server: start it with --write-token (BOOKSTREAM_WRITE_TOKEN) to take appends"
    )]
    Off,
    #[error("the read token does not grant writes: send `authorization: Bearer <write token>`")]
    ReadTokenOnly,
    #[error("missing or wrong write token: send `authorization: Bearer <write token>`")]
    Unauthenticated,
}

impl WriteAccess {
    pub fn new(write_token: Option<&str>, read_token: Option<&str>) -> Self {
        Self {
            write_token: write_token.map(Arc::from),
            read_token: read_token.map(Arc::from),
        }
    }

    /// Whether an `authorization` header value grants writes. Constant time.
    pub fn admit(&self, authorization: Option<&[u8]>) -> Result<(), WriteRefusal> {
        let Some(write_token) = &self.write_token else {
            return Err(WriteRefusal::Off);
        };
        let presented = bearer(authorization);
        if bool::from(presented.ct_eq(write_token.as_bytes())) {
            return Ok(());
        }
        let read = self
            .read_token
            .as_ref()
            .is_some_and(|token| bool::from(presented.ct_eq(token.as_bytes())));
        Err(if read {
            WriteRefusal::ReadTokenOnly
        } else {
            WriteRefusal::Unauthenticated
        })
    }
}

impl Interceptor for TokenCheck {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .map(|value| value.as_bytes());
        if self.admits(authorization) {
            Ok(request)
        } else {
            Err(Status::unauthenticated(REFUSAL))
        }
    }
}

/// The REST edge of the same check: 401 with a JSON message.
pub async fn require_token(
    State(check): State<TokenCheck>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|value| value.as_bytes());
    if check.admits(authorization) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(serde_json::json!({ "error": REFUSAL })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_token_everyone_is_admitted() {
        assert!(TokenCheck::new(None).admits(None));
    }

    #[test]
    fn with_a_token_only_the_exact_bearer_value_is_admitted() {
        let check = TokenCheck::new(Some("s3cret"));
        assert!(check.admits(Some(b"Bearer s3cret")));
        assert!(!check.admits(None));
        assert!(!check.admits(Some(b"s3cret")));
        assert!(!check.admits(Some(b"Bearer s3cre")));
        assert!(!check.admits(Some(b"Bearer s3cret2")));
        assert!(!check.admits(Some(b"bearer s3cret")));
    }

    #[test]
    fn the_write_token_reads_too_but_the_read_token_does_not_write() {
        let reads = TokenCheck::new(Some("r")).with_write_token(Some("w"));
        assert!(reads.admits(Some(b"Bearer r")));
        assert!(reads.admits(Some(b"Bearer w")));
        assert!(!reads.admits(Some(b"Bearer x")));
        let writes = WriteAccess::new(Some("w"), Some("r"));
        assert_eq!(writes.admit(Some(b"Bearer w")), Ok(()));
        assert_eq!(
            writes.admit(Some(b"Bearer r")),
            Err(WriteRefusal::ReadTokenOnly)
        );
        assert_eq!(writes.admit(None), Err(WriteRefusal::Unauthenticated));
        assert_eq!(
            writes.admit(Some(b"Bearer w2")),
            Err(WriteRefusal::Unauthenticated)
        );
        assert_eq!(
            WriteAccess::new(None, Some("r")).admit(Some(b"Bearer r")),
            Err(WriteRefusal::Off)
        );
        assert!(!format!("{:?}", WriteAccess::new(Some("s3cret"), None)).contains("s3cret"));
    }

    #[test]
    fn the_debug_form_never_shows_the_token() {
        assert!(!format!("{:?}", TokenCheck::new(Some("s3cret"))).contains("s3cret"));
    }
}
