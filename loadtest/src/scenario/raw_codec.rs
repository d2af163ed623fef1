//! A gRPC codec that hands each received message over as raw bytes, so the
//! scenarios can scan answers (`proto_scan`) instead of decoding every book
//! into owned strings, as the REST scenarios scan JSON (`json`). Requests
//! are still encoded by prost.

use bookstream::{BookRecommendation, RecommendationRequest};
use bytes::{Buf, Bytes};
use tonic::{
    Status,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder},
};
use tonic_prost::{ProstCodec, ProstEncoder};

/// Initial encode/decode buffer, as in `bookstream::codec`: room for a full
/// 32 KiB chunk plus the message that crosses it.
const BUFFER_BYTES: usize = 64 * 1024;
/// Hand encoded messages to h2 once this much is ready (tonic's default).
const YIELD_THRESHOLD_BYTES: usize = 32 * 1024;

fn buffer_settings() -> BufferSettings {
    BufferSettings::new(BUFFER_BYTES, YIELD_THRESHOLD_BYTES)
}

/// Sends a prost-encoded [`RecommendationRequest`], receives [`Bytes`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawCodec;

impl Codec for RawCodec {
    type Encode = RecommendationRequest;
    type Decode = Bytes;
    type Encoder = ProstEncoder<RecommendationRequest>;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<RecommendationRequest, BookRecommendation>::raw_encoder(buffer_settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

/// Yields each message as it sits in tonic's receive buffer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        // Splits the message off the receive buffer: no copy.
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }

    fn buffer_settings(&self) -> BufferSettings {
        buffer_settings()
    }
}
