//! The caller's gRPC deadline (`grpc-timeout`), kept for the whole stream.
//!
//! tonic applies the header only until the response starts; a stream of
//! millions of books outlives that, so the stream checks it itself.

use std::time::{Duration, Instant};

use tonic::metadata::MetadataMap;

/// The instant the caller stops waiting, if it set a deadline.
pub fn from_metadata(metadata: &MetadataMap) -> Option<Instant> {
    let timeout = metadata.get("grpc-timeout")?.to_str().ok()?;
    parse_timeout(timeout).map(|timeout| Instant::now() + timeout)
}

/// A `grpc-timeout` value: at most 8 digits and a unit (H, M, S, m, u, n).
pub fn parse_timeout(value: &str) -> Option<Duration> {
    let split = value.len().checked_sub(1)?;
    let (digits, unit) = value.split_at(split);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_of_the_grpc_spec_is_understood() {
        assert_eq!(parse_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(
            parse_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
    }

    #[test]
    fn malformed_values_are_ignored() {
        for value in ["", "S", "5", "5s", "-5S", "123456789S", "1.5S", "5 S"] {
            assert_eq!(parse_timeout(value), None, "{value:?}");
        }
    }
}
