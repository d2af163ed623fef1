//! The time a follow starts from, as people and programs write it.

/// An RFC 3339 time (`2026-11-29T07:00:00Z`) or a count of milliseconds
/// since the Unix epoch, in milliseconds; `None` for anything else.
pub fn parse_time_ms(text: &str) -> Option<u64> {
    if let Ok(ms) = text.parse::<u64>() {
        return Some(ms);
    }
    let at = humantime::parse_rfc3339_weak(text).ok()?;
    let since = at.duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(since.as_millis()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_is_rfc_3339_or_milliseconds() {
        assert_eq!(parse_time_ms("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time_ms("1970-01-01T00:00:01Z"), Some(1_000));
        assert_eq!(parse_time_ms("yesterday"), None);
        assert_eq!(parse_time_ms("1969-12-31T23:59:59Z"), None);
    }
}
