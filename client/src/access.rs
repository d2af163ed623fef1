//! Who may use the trigger listener. Two checks, in front of every route:
//!
//! - **Host.** A page on another site can make a browser talk to a loopback
//!   client by pointing its own DNS name at 127.0.0.1 (DNS rebinding); the
//!   request then carries that foreign name in `Host`. Only IP literals,
//!   `localhost` (when the listener is on loopback or every address) and the
//!   names given with `--allowed-host` are answered; any other name gets 421
//!   (`/health` and `/metrics` answer any name: they are open anyway).
//! - **Token.** With `--listen-token`, every route that starts, stops or
//!   reads runs or files needs `Authorization: Bearer <token>` (programs) or
//!   the session cookie that `/login` sets once the token is typed in
//!   (browsers: `HttpOnly`, `SameSite=Strict`, so no other site can send or
//!   read it). `/health`, `/metrics` and `/login` answer without it, as the
//!   server's probes and scrapers do.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    Form,
    extract::{Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{Html, IntoResponse, Redirect, Response},
};
use maud::html;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::{answer::Answer, guard, webpage};

/// Routes that answer without the token: probes, scrapers and the login itself.
const OPEN_ROUTES: [&str; 4] = ["/health", "/metrics", "/login", "/favicon.ico"];
/// Routes that answer whatever name they are reached by: probes and scrapers
/// call a Service by its name, and what these routes say is open anyway.
const ANY_HOST_ROUTES: [&str; 2] = ["/health", "/metrics"];

/// Why the random session secret could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw a random session secret: {0}")]
pub struct SessionError(#[from] getrandom::Error);

/// The listener's own address, the names it also answers to, and its token.
#[derive(Clone)]
pub struct Access {
    listen: SocketAddr,
    allowed_hosts: Vec<String>,
    any_host: bool,
    token: Option<Arc<str>>,
    /// The session cookie's value: random per process, so restarting the
    /// client signs every browser out and the cookie never holds the token.
    session: Arc<str>,
    cookie_name: String,
    secure: bool,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("listen", &self.listen)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .finish_non_exhaustive()
    }
}

impl Access {
    pub fn new(
        listen: SocketAddr,
        allowed_hosts: &[String],
        token: Option<&str>,
        secure: bool,
    ) -> Result<Self, SessionError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        let session: String = secret.iter().map(|byte| format!("{byte:02x}")).collect();
        Ok(Self {
            listen,
            any_host: allowed_hosts.iter().any(|host| host == "*"),
            allowed_hosts: allowed_hosts
                .iter()
                .map(|host| host.to_ascii_lowercase())
                .collect(),
            token: token.filter(|token| !token.is_empty()).map(Arc::from),
            session: session.into(),
            // Cookies ignore ports: two clients on one host keep one each.
            cookie_name: format!("bookstream_session_{}", listen.port()),
            secure,
        })
    }

    /// Whether a request naming `host` (a `Host` header or an authority) is
    /// meant for this listener.
    pub fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host);
        if self.any_host || name.parse::<IpAddr>().is_ok() {
            return true;
        }
        let name = name.to_ascii_lowercase();
        let local_listener = self.listen.ip().is_loopback() || self.listen.ip().is_unspecified();
        if local_listener && (name == "localhost" || name.ends_with(".localhost")) {
            return true;
        }
        self.allowed_hosts.contains(&name)
    }

    /// Whether the request carries the token or a live session.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let bearer = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| value.strip_prefix("Bearer "))
            .any(|given| bool::from(given.as_bytes().ct_eq(token.as_bytes())));
        bearer || self.session_cookie(headers)
    }

    fn session_cookie(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| {
                name == self.cookie_name
                    && bool::from(value.as_bytes().ct_eq(self.session.as_bytes()))
            })
    }

    fn set_cookie(&self) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie = format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
            self.cookie_name, self.session
        );
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// The name part of a `Host` value: without its port, IPv6 without brackets.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|byte| byte.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The middleware in front of every route.
pub async fn check(State(access): State<Access>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let html = webpage::wants_html(headers);
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|authority| authority.as_str())
        });
    let path = request.uri().path();
    if let Some(host) = host
        && !ANY_HOST_ROUTES.contains(&path)
        && !access.host_allowed(host)
    {
        let message = format!(
            "this client does not answer to the name {:?}: use its address ({}), localhost, \
             or a name given with --allowed-host",
            host_name(host),
            access.listen
        );
        return refuse(
            html,
            StatusCode::MISDIRECTED_REQUEST,
            "Wrong host",
            &message,
        );
    }
    if OPEN_ROUTES.contains(&path) || access.authorized(headers) {
        return next.run(request).await;
    }
    if html && request.method() == axum::http::Method::GET {
        let next_path = request
            .uri()
            .path_and_query()
            .map_or("/", |path| path.as_str());
        let login = format!(
            "/login?next={}",
            utf8_percent_encode(next_path, QUERY_VALUE)
        );
        return Redirect::to(&login).into_response();
    }
    let mut refused = refuse(
        html,
        StatusCode::UNAUTHORIZED,
        "Sign in",
        "this client needs its listen token: send `Authorization: Bearer <token>`, or sign in at /login",
    );
    refused
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    refused
}

fn refuse(html: bool, status: StatusCode, title: &str, message: &str) -> Response {
    Answer {
        html,
        run_id: None,
        requested: None,
    }
    .failure(status, title, message, None)
}

/// What a path keeps unencoded inside a query value: letters, digits and
/// `/-_.~`; its own `?`, `&` and `=` are encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Where to go after signing in: only a path on this client, never another site.
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path
        }
        _ => "/",
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
    next: Option<String>,
}

/// `GET /login`: the form that asks for the token once.
pub async fn login_page(State(access): State<Access>, Query(query): Query<LoginQuery>) -> Response {
    let next = local_path(query.next.as_deref());
    if access.token.is_none() {
        return Redirect::to(next).into_response();
    }
    login_form(StatusCode::OK, next, None)
}

fn login_form(status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let body = html! {
        h1 { "Sign in" }
        p { "This client is guarded by its listen token (" code { "--listen-token" } "). Type it once; this browser then stays signed in until the client restarts." }
        @if let Some(error) = error { p.error { (error) } }
        form method="post" action="/login" {
            input type="hidden" name="next" value=(next);
            label { "Token " input type="password" name="token" autocomplete="current-password" autofocus; }
            " "
            button type="submit" { "Sign in" }
        }
    };
    (status, Html(webpage::layout("Sign in", body).into_string())).into_response()
}

/// `POST /login`: checks the token and sets the session cookie.
pub async fn login(
    State(access): State<Access>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    if let Some(reason) = guard::cross_site(&headers) {
        return refuse(true, StatusCode::FORBIDDEN, "Refused", &reason);
    }
    let Some(token) = &access.token else {
        return Redirect::to(next).into_response();
    };
    if !bool::from(form.token.as_bytes().ct_eq(token.as_bytes())) {
        tracing::warn!("a sign-in with a wrong token was refused");
        return login_form(
            StatusCode::UNAUTHORIZED,
            next,
            Some("That is not this client's token."),
        );
    }
    let mut response = Redirect::to(next).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, access.set_cookie());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(listen: &str, allowed: &[&str]) -> Access {
        let allowed: Vec<String> = allowed.iter().map(|host| (*host).to_owned()).collect();
        Access::new(listen.parse().unwrap(), &allowed, Some("secret"), false).unwrap()
    }

    #[test]
    fn only_addresses_localhost_and_allowed_names_are_answered() {
        let loopback = access("127.0.0.1:3333", &["books.example"]);
        for host in [
            "127.0.0.1:3333",
            "127.0.0.1",
            "[::1]:3333",
            "localhost:3333",
            "LOCALHOST",
            "books.example:3333",
            "Books.Example",
        ] {
            assert!(loopback.host_allowed(host), "{host}");
        }
        for host in [
            "evil.example:3333",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "",
        ] {
            assert!(!loopback.host_allowed(host), "{host}");
        }
        // A listener on a public address is not "localhost".
        assert!(!access("192.0.2.7:3333", &[]).host_allowed("localhost:3333"));
        assert!(access("0.0.0.0:3333", &[]).host_allowed("localhost:3333"));
        assert!(access("192.0.2.7:3333", &["*"]).host_allowed("anything.example"));
    }

    #[test]
    fn a_bearer_token_or_the_session_cookie_authorizes_and_nothing_else_does() {
        let access = access("127.0.0.1:3333", &[]);
        let headers = |name: header::HeaderName, value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(name, value.parse().unwrap());
            headers
        };
        assert!(access.authorized(&headers(header::AUTHORIZATION, "Bearer secret")));
        assert!(!access.authorized(&headers(header::AUTHORIZATION, "Bearer secreT")));
        assert!(!access.authorized(&HeaderMap::new()));
        let cookie = access.set_cookie();
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        let pair = cookie.split(';').next().unwrap();
        assert!(!pair.contains("secret"), "the cookie never holds the token");
        assert!(access.authorized(&headers(header::COOKIE, &format!("a=b; {pair}"))));
        assert!(!access.authorized(&headers(header::COOKIE, "bookstream_session_3333=guess")));
        // Another client's session on another port is not this one's.
        let other = super::tests::access("127.0.0.1:4444", &[]);
        assert!(!other.authorized(&headers(header::COOKIE, pair)));
    }

    #[test]
    fn sign_in_only_sends_back_to_this_clients_own_paths() {
        assert_eq!(local_path(Some("/runs/3")), "/runs/3");
        for foreign in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil.example",
            "runs",
        ] {
            assert_eq!(local_path(Some(foreign)), "/", "{foreign}");
        }
        assert_eq!(local_path(None), "/");
    }
}
