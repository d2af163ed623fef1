//! The prost codec every generated Bookstream stub uses, with buffers sized
//! for streams of many small messages.
//!
//! tonic encodes ready messages into one buffer and hands it to h2 once it
//! holds 32 KiB. Its default buffer starts at 8 KiB, so every 32 KiB chunk
//! regrew the buffer through 16, 32 and 64 KiB, copying it each time: about a
//! quarter of the server's CPU on a long stream. A 64 KiB buffer holds a whole
//! chunk from the start.

use std::marker::PhantomData;

use bytes::{Buf, Bytes};
use prost::Message;
use tonic::{
    Status,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

use crate::{book::OutgoingBook, catalog::BookBuf, pb::RecommendationRequest};

/// Initial encode/decode buffer: room for a full chunk plus the message that crosses it.
const BUFFER_BYTES: usize = 64 * 1024;
/// Hand encoded messages to h2 once this much is ready (tonic's default).
const YIELD_THRESHOLD_BYTES: usize = 32 * 1024;

/// [`ProstCodec`] with [`BUFFER_BYTES`] buffers; named in `build.rs` as the
/// codec of the generated client and server.
#[derive(Debug, Clone)]
pub struct StreamingProstCodec<T, U> {
    _messages: PhantomData<(T, U)>,
}

impl<T, U> Default for StreamingProstCodec<T, U> {
    fn default() -> Self {
        Self {
            _messages: PhantomData,
        }
    }
}

fn buffer_settings() -> BufferSettings {
    BufferSettings::new(BUFFER_BYTES, YIELD_THRESHOLD_BYTES)
}

impl<T, U> Codec for StreamingProstCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(buffer_settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(buffer_settings())
    }
}

/// The server's `Recommend` codec: requests decode with prost, and each
/// outgoing book handle is written as one `BookRecommendation` message.
#[derive(Debug, Clone, Default)]
pub struct OutgoingBookCodec;

impl Codec for OutgoingBookCodec {
    type Encode = OutgoingBook;
    type Decode = RecommendationRequest;
    type Encoder = OutgoingBookEncoder;
    type Decoder = ProstDecoder<RecommendationRequest>;

    fn encoder(&mut self) -> Self::Encoder {
        OutgoingBookEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<RecommendationRequest, RecommendationRequest>::raw_decoder(buffer_settings())
    }
}

/// Writes each handle as the wire bytes of its `BookRecommendation`,
/// straight from the borrowed book into tonic's buffer: no owned message,
/// and for generated books one scratch buffer for the whole stream.
#[derive(Debug, Clone, Default)]
pub struct OutgoingBookEncoder {
    scratch: BookBuf,
}

impl Encoder for OutgoingBookEncoder {
    type Item = OutgoingBook;
    type Error = Status;

    fn encode(&mut self, item: OutgoingBook, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.view(&mut self.scratch).encode_to(dst);
        Ok(())
    }

    fn buffer_settings(&self) -> BufferSettings {
        buffer_settings()
    }
}

/// The callers' codec (the client's `Recommend`, the load test's both RPCs):
/// requests encode with prost; each answer arrives as its message's bytes,
/// for the caller to read in place ([`crate::book::BookView::decode`], a
/// scan) instead of into an owned message.
#[derive(Debug, Clone, Default)]
pub struct BookBytesCodec;

impl Codec for BookBytesCodec {
    type Encode = RecommendationRequest;
    type Decode = Bytes;
    type Encoder = ProstEncoder<RecommendationRequest>;
    type Decoder = MessageBytesDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<RecommendationRequest, RecommendationRequest>::raw_encoder(buffer_settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        MessageBytesDecoder
    }
}

/// Hands over each message's bytes as they are: a split of tonic's buffer, not a copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageBytesDecoder;

impl Decoder for MessageBytesDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }

    fn buffer_settings(&self) -> BufferSettings {
        buffer_settings()
    }
}
