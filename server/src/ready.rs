//! The one line the `server` binary prints on stdout once both listeners are
//! bound. Tools that start the binary with port 0 (tests, `loadtest
//! --spawn-server`) read the real addresses from it instead of guessing ports.

use std::net::SocketAddr;

const PREFIX: &str = "bookstream server ready: ";

/// The readiness line for these addresses.
pub fn format_line(grpc_addr: SocketAddr, rest_addr: SocketAddr) -> String {
    format!("{PREFIX}grpc={grpc_addr} rest={rest_addr}")
}

/// The gRPC and REST addresses of a readiness line, or `None` for any other line.
pub fn parse_line(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let fields = line.trim().strip_prefix(PREFIX)?;
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
    fn other_lines_are_not_readiness_lines() {
        assert_eq!(parse_line("2026-11-21 INFO something else"), None);
        assert_eq!(
            parse_line("bookstream server ready: grpc=nonsense rest=127.0.0.1:1"),
            None
        );
    }
}
