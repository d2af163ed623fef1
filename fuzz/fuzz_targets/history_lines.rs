//! The run history as the client reads it at start: any bytes (torn lines,
//! invalid UTF-8, absurd numbers) give records with valid ids and counts,
//! never a panic, so the history can never stop the client.
#![no_main]

use bookstream_client::runs::{
    history::{MAX_RUN_ID, parse},
    record::Outcome,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (records, lines, unreadable) = parse(data, std::path::Path::new("fuzz.jsonl"));
    assert!(unreadable <= lines);
    assert!(records.len() <= lines - unreadable);
    for (id, record) in &records {
        assert_eq!(*id, record.id);
        assert!((1..=MAX_RUN_ID).contains(id));
        assert_ne!(
            record.outcome,
            Outcome::Running,
            "a loaded run is never still running"
        );
    }
});
