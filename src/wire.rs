//! `BookRecommendation` on the wire, written from and read into borrowed
//! fields: the bytes prost writes for the same book, without building the
//! owned message on either side.
//!
//! Encoding follows prost's derive exactly (fields in tag order, proto3
//! defaults left out), so every client sees byte for byte what prost would
//! send. Decoding follows prost's merge: unknown fields are skipped, fields
//! may come in any order, and a field that comes twice keeps its last value.

use bytes::{Buf, BufMut};
use prost::{
    DecodeError,
    encoding::{
        DecodeContext, WireType, check_wire_type, decode_key, decode_varint, encode_key,
        encode_varint, encoded_len_varint, key_len, skip_field,
    },
};

use crate::book::BookView;

/// Why bytes are not a `BookRecommendation`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("malformed book message: {0}")]
    Malformed(#[from] DecodeError),
    #[error("malformed book message: a field runs past its end")]
    Truncated,
    #[error("malformed book message: a text field is not UTF-8")]
    NotUtf8,
}

const ID: u32 = 1;
const TITLE: u32 = 2;
const AUTHOR: u32 = 3;
const ISBN13: u32 = 4;
const YEAR: u32 = 5;
const GENRE: u32 = 6;
const SCORE: u32 = 7;
const APPENDED_AT: u32 = 8;

impl BookView<'_> {
    /// The length of the encoded message, as prost's `encoded_len`.
    pub fn encoded_len(&self) -> usize {
        let varint = |tag, value: u64| {
            if value == 0 {
                0
            } else {
                key_len(tag) + encoded_len_varint(value)
            }
        };
        let text = |tag, value: &str| {
            if value.is_empty() {
                0
            } else {
                key_len(tag) + encoded_len_varint(value.len() as u64) + value.len()
            }
        };
        varint(ID, self.id)
            + text(TITLE, self.title)
            + text(AUTHOR, self.author)
            + text(ISBN13, self.isbn13)
            + varint(YEAR, u64::from(self.year))
            + text(GENRE, self.genre)
            + if self.score != 0.0 {
                key_len(SCORE) + 4
            } else {
                0
            }
            + varint(APPENDED_AT, self.appended_at_ms)
    }

    /// Writes the message's fields, as prost's `encode_raw`.
    pub fn encode_raw(&self, buf: &mut impl BufMut) {
        if self.id != 0 {
            encode_key(ID, WireType::Varint, buf);
            encode_varint(self.id, buf);
        }
        put_text(TITLE, self.title, buf);
        put_text(AUTHOR, self.author, buf);
        put_text(ISBN13, self.isbn13, buf);
        if self.year != 0 {
            encode_key(YEAR, WireType::Varint, buf);
            encode_varint(u64::from(self.year), buf);
        }
        put_text(GENRE, self.genre, buf);
        // prost compares with 0.0 too: -0.0 is left out, NaN is written.
        if self.score != 0.0 {
            encode_key(SCORE, WireType::ThirtyTwoBit, buf);
            buf.put_f32_le(self.score);
        }
        if self.appended_at_ms != 0 {
            encode_key(APPENDED_AT, WireType::Varint, buf);
            encode_varint(self.appended_at_ms, buf);
        }
    }
}

/// Books whose message fits this many bytes are built on the stack and
/// handed over in one piece: `BytesMut` checks its capacity on every write,
/// and prost's varint writer copies even a single byte through `memmove`.
pub const STACK_BOOK_BYTES: usize = 256;

impl BookView<'_> {
    /// Writes the message into `buf` with one copy when it is small enough
    /// (as catalog books are), else field by field.
    pub fn encode_to(&self, buf: &mut impl BufMut) {
        let len = self.encoded_len();
        if len <= STACK_BOOK_BYTES {
            let mut stack = [0u8; STACK_BOOK_BYTES];
            let written = self.write_to(&mut stack[..len]);
            buf.put_slice(&stack[..written]);
        } else {
            self.encode_raw(buf);
        }
    }

    /// Writes the message into `out`, which holds [`Self::encoded_len`]
    /// bytes; returns how many were written.
    fn write_to(&self, out: &mut [u8]) -> usize {
        let mut at = 0;
        if self.id != 0 {
            at = put_key_into(out, at, ID, WireType::Varint);
            at = put_varint_into(out, at, self.id);
        }
        at = put_text_into(out, at, TITLE, self.title);
        at = put_text_into(out, at, AUTHOR, self.author);
        at = put_text_into(out, at, ISBN13, self.isbn13);
        if self.year != 0 {
            at = put_key_into(out, at, YEAR, WireType::Varint);
            at = put_varint_into(out, at, u64::from(self.year));
        }
        at = put_text_into(out, at, GENRE, self.genre);
        if self.score != 0.0 {
            at = put_key_into(out, at, SCORE, WireType::ThirtyTwoBit);
            out[at..at + 4].copy_from_slice(&self.score.to_le_bytes());
            at += 4;
        }
        if self.appended_at_ms != 0 {
            at = put_key_into(out, at, APPENDED_AT, WireType::Varint);
            at = put_varint_into(out, at, self.appended_at_ms);
        }
        at
    }
}

/// Every tag of this message is below 16: its key is one byte.
fn put_key_into(out: &mut [u8], at: usize, tag: u32, wire_type: WireType) -> usize {
    out[at] = ((tag << 3) | wire_type as u32) as u8;
    at + 1
}

fn put_varint_into(out: &mut [u8], mut at: usize, mut value: u64) -> usize {
    while value >= 0x80 {
        out[at] = (value as u8) | 0x80;
        value >>= 7;
        at += 1;
    }
    out[at] = value as u8;
    at + 1
}

fn put_text_into(out: &mut [u8], at: usize, tag: u32, value: &str) -> usize {
    if value.is_empty() {
        return at;
    }
    let at = put_key_into(out, at, tag, WireType::LengthDelimited);
    let at = put_varint_into(out, at, value.len() as u64);
    out[at..at + value.len()].copy_from_slice(value.as_bytes());
    at + value.len()
}

fn put_text(tag: u32, value: &str, buf: &mut impl BufMut) {
    if !value.is_empty() {
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(value.len() as u64, buf);
        buf.put_slice(value.as_bytes());
    }
}

impl<'a> BookView<'a> {
    /// Reads one encoded `BookRecommendation`, borrowing its text from
    /// `bytes`. Accepts exactly what prost's `decode` accepts, with the same
    /// result; anything else is an error, never a panic.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, WireError> {
        let mut book = BookView::default();
        let mut buf = bytes;
        while buf.has_remaining() {
            let (tag, wire_type) = key(&mut buf)?;
            match tag {
                ID => {
                    check_wire_type(WireType::Varint, wire_type)?;
                    book.id = decode_varint(&mut buf)?;
                }
                TITLE => book.title = take_text(wire_type, &mut buf)?,
                AUTHOR => book.author = take_text(wire_type, &mut buf)?,
                ISBN13 => book.isbn13 = take_text(wire_type, &mut buf)?,
                YEAR => {
                    check_wire_type(WireType::Varint, wire_type)?;
                    // As prost: a uint32 keeps the low 32 bits of the varint.
                    book.year = decode_varint(&mut buf)? as u32;
                }
                GENRE => book.genre = take_text(wire_type, &mut buf)?,
                SCORE => {
                    check_wire_type(WireType::ThirtyTwoBit, wire_type)?;
                    if buf.remaining() < 4 {
                        return Err(WireError::Truncated);
                    }
                    book.score = buf.get_f32_le();
                }
                APPENDED_AT => {
                    check_wire_type(WireType::Varint, wire_type)?;
                    book.appended_at_ms = decode_varint(&mut buf)?;
                }
                _ => skip_field(wire_type, tag, &mut buf, DecodeContext::default())?,
            }
        }
        Ok(book)
    }
}

/// A field's key. This message's keys are one byte; anything else (and a
/// one-byte key prost refuses) goes through prost's own decoder.
#[inline]
fn key(buf: &mut &[u8]) -> Result<(u32, WireType), WireError> {
    if let [byte, rest @ ..] = *buf
        && *byte < 0x80
        && *byte >= 8
        && let Ok(wire_type) = WireType::try_from(u64::from(*byte & 7))
    {
        *buf = rest;
        return Ok((u32::from(*byte >> 3), wire_type));
    }
    Ok(decode_key(buf)?)
}

/// A varint, with one-byte values (every length in a catalog book) taken at once.
#[inline]
fn varint(buf: &mut &[u8]) -> Result<u64, WireError> {
    if let [byte, rest @ ..] = *buf
        && *byte < 0x80
    {
        *buf = rest;
        return Ok(u64::from(*byte));
    }
    Ok(decode_varint(buf)?)
}

/// A length-delimited UTF-8 field, borrowed from the message.
fn take_text<'a>(wire_type: WireType, buf: &mut &'a [u8]) -> Result<&'a str, WireError> {
    check_wire_type(WireType::LengthDelimited, wire_type)?;
    let len = varint(buf)?;
    let len = usize::try_from(len)
        .ok()
        .filter(|len| *len <= buf.len())
        .ok_or(WireError::Truncated)?;
    let (text, rest) = buf.split_at(len);
    *buf = rest;
    utf8(text).ok_or(WireError::NotUtf8)
}

/// `bytes` as text, if they are UTF-8. Most books are ASCII, and `is_ascii`
/// checks a word at a time where `from_utf8` walks a short field byte by
/// byte: 64 -> 51 ns per decoded book (cargo bench --bench wire). simdutf8
/// was no faster on fields this short.
#[inline]
pub fn utf8(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost::Message;

    use super::*;
    use crate::{BookRecommendation, catalog};

    fn any_book() -> impl Strategy<Value = BookRecommendation> {
        let text = prop_oneof![
            Just(String::new()),
            "[a-zA-Z ,'-]{1,40}",
            any::<String>(),
            "\\PC{200,2000}",
        ];
        (
            any::<u64>(),
            text.clone(),
            text.clone(),
            text.clone(),
            any::<u32>(),
            text,
            prop_oneof![Just(0.0f32), Just(-0.0f32), any::<f32>()],
            prop_oneof![Just(0u64), any::<u64>()],
        )
            .prop_map(
                |(id, title, author, isbn13, year, genre, score, appended_at_ms)| {
                    BookRecommendation {
                        id,
                        title,
                        author,
                        isbn13,
                        year,
                        genre,
                        score,
                        appended_at_ms,
                    }
                },
            )
    }

    fn encode(view: BookView<'_>) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(view.encoded_len());
        view.encode_raw(&mut bytes);
        let mut stacked = Vec::new();
        view.encode_to(&mut stacked);
        assert_eq!(stacked, bytes, "both ways write the same bytes");
        bytes
    }

    /// The same field values, NaN scores counting as equal.
    fn same(decoded: &BookRecommendation, book: &BookRecommendation) -> bool {
        let scores = decoded.score.to_bits() == book.score.to_bits()
            || (decoded.score.is_nan() && book.score.is_nan())
            || decoded.score == book.score;
        BookRecommendation {
            score: 0.0,
            ..decoded.clone()
        } == BookRecommendation {
            score: 0.0,
            ..book.clone()
        } && scores
    }

    #[test]
    fn catalog_books_encode_to_prosts_bytes() {
        for book in catalog::books(1, 0..2000) {
            assert_eq!(encode(book.view()), book.encode_to_vec(), "{book:?}");
            assert_eq!(book.view().encoded_len(), book.encoded_len());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn any_book_encodes_to_prosts_bytes_and_decodes_back(book in any_book()) {
            let bytes = encode(book.view());
            prop_assert_eq!(&bytes, &book.encode_to_vec());
            prop_assert_eq!(book.view().encoded_len(), bytes.len());
            let decoded = BookRecommendation::decode(&bytes[..]).unwrap();
            prop_assert!(same(&decoded, &book), "{:?} != {:?}", decoded, book);
            let view = BookView::decode(&bytes).unwrap();
            prop_assert!(same(&view.to_message(), &book));
        }

        /// Valid messages as other encoders may write them: fields in any
        /// order, some twice, unknown fields of every wire type between them.
        #[test]
        fn the_decoder_agrees_with_prost_on_reordered_repeated_and_unknown_fields(
            books in prop::collection::vec(any_book(), 1..3),
            order in prop::collection::vec((0usize..9, any::<u64>()), 1..24),
        ) {
            let mut bytes = Vec::new();
            for (field, noise) in order {
                let book = &books[noise as usize % books.len()];
                match field {
                    0 => { encode_key(ID, WireType::Varint, &mut bytes); encode_varint(book.id, &mut bytes); }
                    1 => put_always(TITLE, &book.title, &mut bytes),
                    2 => put_always(AUTHOR, &book.author, &mut bytes),
                    3 => put_always(ISBN13, &book.isbn13, &mut bytes),
                    4 => { encode_key(YEAR, WireType::Varint, &mut bytes); encode_varint(noise, &mut bytes); }
                    5 => put_always(GENRE, &book.genre, &mut bytes),
                    6 => { encode_key(SCORE, WireType::ThirtyTwoBit, &mut bytes); bytes.put_f32_le(book.score); }
                    7 => { encode_key(APPENDED_AT, WireType::Varint, &mut bytes); encode_varint(noise, &mut bytes); }
                    _ => put_unknown(noise, &mut bytes),
                }
            }
            let by_prost = BookRecommendation::decode(&bytes[..]);
            let ours = BookView::decode(&bytes);
            match (by_prost, ours) {
                (Ok(expected), Ok(view)) => prop_assert!(same(&view.to_message(), &expected)),
                (expected, view) => prop_assert!(false, "prost {:?}, ours {:?}", expected, view),
            }
        }

        #[test]
        fn arbitrary_bytes_give_what_prost_gives_and_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let by_prost = BookRecommendation::decode(&bytes[..]);
            let ours = BookView::decode(&bytes);
            match (by_prost, ours) {
                (Ok(expected), Ok(view)) => prop_assert!(same(&view.to_message(), &expected)),
                (Err(_), Err(_)) => {}
                (expected, view) => prop_assert!(false, "prost {:?}, ours {:?}", expected, view),
            }
        }
    }

    fn put_always(tag: u32, value: &str, bytes: &mut Vec<u8>) {
        encode_key(tag, WireType::LengthDelimited, bytes);
        encode_varint(value.len() as u64, bytes);
        bytes.put_slice(value.as_bytes());
    }

    /// A field this message does not have, of a wire type picked by `noise`.
    fn put_unknown(noise: u64, bytes: &mut Vec<u8>) {
        let tag = 8 + (noise % 1000) as u32;
        match noise % 4 {
            0 => {
                encode_key(tag, WireType::Varint, bytes);
                encode_varint(noise, bytes);
            }
            1 => {
                encode_key(tag, WireType::SixtyFourBit, bytes);
                bytes.put_u64_le(noise);
            }
            2 => put_always(tag, "unknown to this message", bytes),
            _ => {
                encode_key(tag, WireType::ThirtyTwoBit, bytes);
                bytes.put_u32_le(noise as u32);
            }
        }
    }
}
