//! The one line each binary prints on stdout once it is bound, a contract
//! with every program that starts one on port 0 (tests, `loadtest
//! --spawn-server`, `trigger-bench`): they read the real addresses from it
//! instead of guessing ports.

use std::net::SocketAddr;

/// How the server's line starts; its addresses follow.
pub const SERVER_PREFIX: &str = "bookstream server ready: ";
/// How the client's line starts; its base URL follows.
pub const CLIENT_PREFIX: &str = "bookstream client ready: ";

/// The server's readiness line for these addresses.
pub fn format_line(grpc_addr: SocketAddr, rest_addr: SocketAddr) -> String {
    format!("{SERVER_PREFIX}grpc={grpc_addr} rest={rest_addr}")
}

/// The client's readiness line: its trigger's base URL (`http://ADDR/`).
pub fn format_client_line(base_url: &str) -> String {
    format!("{CLIENT_PREFIX}{base_url}")
}

/// The base URL of a client readiness line, without its trailing slash.
pub fn parse_client_line(line: &str) -> Option<&str> {
    let url = line.trim().strip_prefix(CLIENT_PREFIX)?;
    Some(url.trim_end_matches('/'))
}

/// The server's gRPC and REST addresses of a readiness line, or `None` for any other line.
pub fn parse_line(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let fields = line.trim().strip_prefix(SERVER_PREFIX)?;
    let mut grpc = None;
    let mut rest = None;
    for field in fields.split_whitespace() {
        match field.split_once('=') {
            Some(("grpc", addr)) => grpc = addr.parse().ok(),
            Some(("rest", addr)) => rest = addr.parse().ok(),
            _ => {}
        }
    }
    Some((grpc?, rest?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_readiness_line_round_trips() {
        let grpc: SocketAddr = "127.0.0.1:50051".parse().unwrap();
        let rest: SocketAddr = "[::1]:8080".parse().unwrap();
        assert_eq!(parse_line(&format_line(grpc, rest)), Some((grpc, rest)));
    }

    #[test]
    fn the_client_line_gives_its_base_url() {
        let line = format_client_line("http://127.0.0.1:3333/");
        assert_eq!(parse_client_line(&line), Some("http://127.0.0.1:3333"));
        assert_eq!(parse_client_line("bookstream server ready: grpc=x"), None);
    }

    #[test]
    fn other_lines_are_not_readiness_lines() {
        assert_eq!(parse_line("2026-11-21 INFO something else"), None);
        assert_eq!(
            parse_line("bookstream server ready: grpc=nonsense rest=127.0.0.1:1"),
            None
        );
    }
}
