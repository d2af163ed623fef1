//! What a person types into the trigger URL: `/{n}` and `user_id`. Any text
//! is a count within the limit or a clear error, never a panic, and the
//! error never echoes more than a short prefix of the input.
#![no_main]

use bookstream_client::input::{parse_count, parse_user_id};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: (&str, u64)| {
    let (raw, max_n) = data;
    match parse_count(raw, max_n) {
        Ok(n) => assert!((1..=max_n).contains(&n), "{n} outside 1..={max_n}"),
        Err(error) => assert!(error.to_string().chars().count() < 200, "{error}"),
    }
    match parse_user_id(Some(raw)) {
        Ok(user) => assert_eq!(raw.parse::<u64>().ok(), Some(user)),
        Err(error) => assert!(error.to_string().chars().count() < 200, "{error}"),
    }
});
