//! The listeners' request-head detector: however the same bytes are split
//! into reads, it reaches the same verdict, and it never panics.
#![no_main]

use bookstream::listener::head::HeadSniffer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: (&[u8], Vec<u8>)| {
    let (bytes, cuts) = data;
    let whole = HeadSniffer::default().feed(bytes);
    let mut sniffer = HeadSniffer::default();
    let mut split = false;
    let mut rest = bytes;
    for cut in cuts {
        let (read, after) = rest.split_at(usize::from(cut).min(rest.len()));
        split |= sniffer.feed(read);
        rest = after;
    }
    split |= sniffer.feed(rest);
    assert_eq!(whole, split);
});
