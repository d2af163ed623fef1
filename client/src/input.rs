//! Parsing what a person types into the trigger URL, with messages that say
//! exactly what was wrong.

/// A trigger request the client will not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("'{0}' is not a number of books: use a whole number, like /1000")]
    NotANumber(String),
    #[error("'{0}' is not a whole number of books: use digits only, like /1000")]
    NotWhole(String),
    #[error("the number of books must be positive, got '{0}'")]
    Negative(String),
    #[error("ask for at least 1 book")]
    Zero,
    #[error("{requested} books is more than this client's limit of {limit} per request (--max-n)")]
    AboveLimit { requested: String, limit: u64 },
    #[error("user_id must be a whole number from 0 to {max}, got '{0}'", max = u64::MAX)]
    BadUserId(String),
    #[error(
        "time must be an RFC 3339 time (2026-11-29T07:00:00Z) or milliseconds since the Unix \
         epoch, got '{0}'"
    )]
    BadTime(String),
}

/// The book count of `/{n}`, between 1 and `max_n`.
pub fn parse_count(raw: &str, max_n: u64) -> Result<u64, InputError> {
    if !raw.is_empty() && raw.bytes().all(|byte| byte.is_ascii_digit()) {
        // All digits: the only failure left is overflow, which is above any limit.
        return match raw.parse::<u64>() {
            Ok(0) => Err(InputError::Zero),
            Ok(n) if n <= max_n => Ok(n),
            _ => Err(InputError::AboveLimit {
                requested: shorten(raw),
                limit: max_n,
            }),
        };
    }
    match raw.parse::<f64>() {
        Ok(value) if value < 0.0 || raw.starts_with('-') => Err(InputError::Negative(shorten(raw))),
        Ok(value) if value.is_finite() => Err(InputError::NotWhole(shorten(raw))),
        _ => Err(InputError::NotANumber(shorten(raw))),
    }
}

/// The `user_id` query parameter; absent means user 1.
pub fn parse_user_id(raw: Option<&str>) -> Result<u64, InputError> {
    match raw {
        None => Ok(1),
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| InputError::BadUserId(shorten(text))),
    }
}

/// A follow's `time=`: an RFC 3339 time or ms since the Unix epoch, in ms.
pub fn parse_time_ms(raw: &str) -> Result<u64, InputError> {
    bookstream::seek::parse_time_ms(raw).ok_or_else(|| InputError::BadTime(shorten(raw)))
}

/// Echoing a 100 KB path back in full helps nobody.
fn shorten(raw: &str) -> String {
    const MAX_CHARS: usize = 40;
    match raw.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &raw[..cut]),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_N: u64 = 10_000_000;

    #[test]
    fn a_follow_time_is_rfc_3339_or_milliseconds() {
        assert_eq!(parse_time_ms("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time_ms("1970-01-01T00:00:01Z"), Ok(1_000));
        assert!(matches!(
            parse_time_ms("yesterday"),
            Err(InputError::BadTime(_))
        ));
    }

    #[test]
    fn whole_positive_numbers_up_to_the_limit_are_accepted() {
        assert_eq!(parse_count("1", MAX_N), Ok(1));
        assert_eq!(parse_count("1000", MAX_N), Ok(1000));
        assert_eq!(parse_count("0010", MAX_N), Ok(10));
        assert_eq!(parse_count("10000000", MAX_N), Ok(MAX_N));
    }

    #[test]
    fn each_kind_of_bad_count_gets_its_own_message() {
        let cases = [
            ("abc", InputError::NotANumber("abc".into())),
            ("", InputError::NotANumber(String::new())),
            ("1.5", InputError::NotWhole("1.5".into())),
            ("1e3", InputError::NotWhole("1e3".into())),
            ("+5", InputError::NotWhole("+5".into())),
            ("-1", InputError::Negative("-1".into())),
            ("-0", InputError::Negative("-0".into())),
            ("0", InputError::Zero),
            ("inf", InputError::NotANumber("inf".into())),
            ("NaN", InputError::NotANumber("NaN".into())),
            (
                "10000001",
                InputError::AboveLimit {
                    requested: "10000001".into(),
                    limit: MAX_N,
                },
            ),
            (
                "99999999999999999999999",
                InputError::AboveLimit {
                    requested: "99999999999999999999999".into(),
                    limit: MAX_N,
                },
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(parse_count(raw, MAX_N), Err(expected), "input {raw:?}");
        }
    }

    #[test]
    fn messages_name_the_bad_input_and_the_way_out() {
        let message = parse_count("abc", MAX_N).unwrap_err().to_string();
        assert!(
            message.contains("'abc'") && message.contains("/1000"),
            "{message}"
        );
        let message = parse_count("20000000", MAX_N).unwrap_err().to_string();
        assert!(
            message.contains("10000000") && message.contains("--max-n"),
            "{message}"
        );
    }

    #[test]
    fn a_huge_input_is_shortened_in_the_message() {
        let huge = "x".repeat(100_000);
        let message = parse_count(&huge, MAX_N).unwrap_err().to_string();
        assert!(message.len() < 200, "{} bytes", message.len());
    }

    #[test]
    fn user_ids_default_to_1_and_must_be_whole_numbers() {
        assert_eq!(parse_user_id(None), Ok(1));
        assert_eq!(parse_user_id(Some("42")), Ok(42));
        assert_eq!(
            parse_user_id(Some("x")),
            Err(InputError::BadUserId("x".into()))
        );
        assert_eq!(
            parse_user_id(Some("-3")),
            Err(InputError::BadUserId("-3".into()))
        );
        assert_eq!(
            parse_user_id(Some("")),
            Err(InputError::BadUserId(String::new()))
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn any_path_is_either_a_count_within_the_limit_or_a_clear_error(raw in ".{0,64}") {
                match parse_count(&raw, MAX_N) {
                    Ok(count) => {
                        prop_assert!((1..=MAX_N).contains(&count));
                        prop_assert!(raw.bytes().all(|byte| byte.is_ascii_digit()));
                        prop_assert_eq!(raw.parse::<u64>().ok(), Some(count));
                    }
                    Err(error) => prop_assert!(!error.to_string().is_empty()),
                }
            }

            #[test]
            fn every_count_within_the_limit_is_accepted_as_typed(count in 1..=MAX_N) {
                prop_assert_eq!(parse_count(&count.to_string(), MAX_N), Ok(count));
            }

            #[test]
            fn messages_stay_short_whatever_was_typed(raw in "\\PC{0,5000}") {
                if let Err(error) = parse_count(&raw, MAX_N) {
                    prop_assert!(error.to_string().chars().count() < 200);
                }
                if let Err(error) = parse_user_id(Some(&raw)) {
                    prop_assert!(error.to_string().chars().count() < 200);
                }
            }
        }
    }
}
