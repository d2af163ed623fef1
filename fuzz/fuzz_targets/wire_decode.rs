//! The hand-written decoder of a streamed book against prost's: for any
//! bytes, both accept with the same book or both refuse, and neither panics.
#![no_main]

use bookstream::{BookRecommendation, book::BookView};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let ours = BookView::decode(data);
    let prost = BookRecommendation::decode(data);
    match (ours, prost) {
        (Ok(view), Ok(book)) => {
            let ours = view.to_message();
            // NaN is a valid score: compare its bits, not its value.
            assert_eq!(ours.score.to_bits(), book.score.to_bits());
            assert_eq!(
                BookRecommendation { score: 0.0, ..ours },
                BookRecommendation { score: 0.0, ..book }
            );
        }
        (Err(_), Err(_)) => {}
        (ours, prost) => panic!("disagree: ours {ours:?}, prost {prost:?}"),
    }
});
