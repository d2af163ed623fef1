//! How Bookstream writes numbers and errors for people: pages, tables,
//! reports and the one line a binary prints when it stops.

/// 1234567 as "1,234,567", so large book counts read at a glance.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// An error and its causes on one line, `outer: cause: root`, each cause
/// said once: a cause whose text the line already holds (an error that
/// describes its source in its own message, as the store errors do) is
/// skipped, so a typed chain never reads as the same words three times.
pub fn error_chain<'a>(
    chain: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> String {
    let mut line = String::new();
    for error in chain {
        let text = error.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("loading books failed: {cause}")]
    struct Described {
        cause: std::io::Error,
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_cause_the_line_already_says_is_said_once() {
        let error = Described {
            cause: std::io::Error::other("disk full"),
            source: std::io::Error::other("disk full"),
        };
        let chain = std::iter::successors(
            Some(&error as &(dyn std::error::Error + 'static)),
            |error| error.source(),
        );
        assert_eq!(error_chain(chain), "loading books failed: disk full");
        let fresh = std::io::Error::other("a new cause");
        let outer = std::io::Error::other(Wrapper(fresh));
        let chain = std::iter::successors(
            Some(&outer as &(dyn std::error::Error + 'static)),
            |error| error.source(),
        );
        assert_eq!(error_chain(chain), "wrapped: a new cause");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("wrapped")]
    struct Wrapper(#[source] std::io::Error);

    #[test]
    fn thousands_are_grouped_for_reading() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(10_000_000), "10,000,000");
    }
}
