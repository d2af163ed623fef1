//! Optional shared-token authentication: with `--token` set, every gRPC call
//! and every REST route needs `authorization: Bearer <token>`.

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
        }
    }

    /// Whether an `authorization` header value carries the token (always,
    /// when the server has none). Constant time, so timing leaks nothing.
    fn admits(&self, authorization: Option<&[u8]>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let presented = authorization
            .and_then(|value| value.strip_prefix(b"Bearer "))
            .unwrap_or_default();
        bool::from(presented.ct_eq(token.as_bytes()))
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
    fn the_debug_form_never_shows_the_token() {
        assert!(!format!("{:?}", TokenCheck::new(Some("s3cret"))).contains("s3cret"));
    }
}
