//! The gRPC scenarios' shared channels: `--connections` HTTP/2 connections,
//! users spread over them round-robin, so many users can share few
//! connections as gRPC clients do in production.

use std::error::Error as _;

use bookstream::pb::recommendations_client::RecommendationsClient;
use tonic::{
    Status,
    transport::{Channel, Endpoint},
};

use crate::outcome::{Failure, FailureKind};

/// One lazily connected channel per connection.
#[derive(Debug, Clone)]
pub(crate) struct GrpcTarget {
    channels: Vec<Channel>,
}

impl GrpcTarget {
    /// Channels to `endpoint`; they connect on first use, so a server that is
    /// down shows up as transport failures in the report, as with REST.
    pub(crate) fn new(endpoint: Endpoint, connections: usize) -> Self {
        let endpoint = endpoint.tcp_nodelay(true);
        let channels = (0..connections.max(1))
            .map(|_| endpoint.connect_lazy())
            .collect();
        Self { channels }
    }

    /// The client for `user`, on that user's connection.
    pub(crate) fn client(&self, user: usize) -> RecommendationsClient<Channel> {
        let channel = self.channels[user % self.channels.len()].clone();
        // The server's --max-message-bytes is the limit under test, not the
        // client's 4 MiB default: 100,000 books in one message are ~10 MB.
        RecommendationsClient::new(channel).max_decoding_message_size(usize::MAX)
    }
}

/// A failure for a non-OK status. Statuses the server sent carry no source
/// error; those tonic made from a broken connection do.
pub(crate) fn status_failure(status: Status) -> Failure {
    if let Some(source) = status.source() {
        Failure::new(
            FailureKind::Transport,
            format!("{}: {source}", status.message()),
        )
    } else {
        Failure::new(
            FailureKind::GrpcStatus(status.code()),
            status.message().to_owned(),
        )
    }
}

/// Bytes of one message on the wire: the protobuf plus gRPC's 5-byte prefix
/// (compression flag and length).
pub(crate) fn wire_bytes(message: &impl prost::Message) -> u64 {
    message.encoded_len() as u64 + 5
}
