//! The gRPC scenarios' shared channels: `--connections` HTTP/2 connections,
//! users spread over them round-robin, so many users can share few
//! connections as gRPC clients do in production.
//!
//! The RPCs are called through tonic's generic client with [`BookBytesCodec`],
//! not the generated stub, so answers arrive as raw bytes to be scanned.

use std::error::Error as _;

use bookstream::{
    RecommendationRequest, codec::BookBytesCodec, pb::recommendations_server::SERVICE_NAME,
};
use bytes::Bytes;
use hyper::http::uri::PathAndQuery;
use tonic::{
    Request, Status,
    client::Grpc,
    codec::Streaming,
    metadata::{Ascii, MetadataValue},
    transport::{Channel, Endpoint},
};

use crate::outcome::{Failure, FailureKind};

/// One lazily connected channel per connection.
#[derive(Debug, Clone)]
pub(crate) struct GrpcTarget {
    channels: Vec<Channel>,
    /// `Bearer <token>`, when the server requires one.
    authorization: Option<MetadataValue<Ascii>>,
    /// `/recommendations.Recommendations/RecommendBatch`
    batch_path: PathAndQuery,
    /// `/recommendations.Recommendations/Recommend`
    stream_path: PathAndQuery,
}

impl GrpcTarget {
    /// Channels to `endpoint`; they connect on first use, so a server that is
    /// down shows up as transport failures in the report, as with REST.
    pub(crate) fn new(
        endpoint: Endpoint,
        connections: usize,
        token: Option<&str>,
    ) -> Result<Self, String> {
        let authorization = token
            .map(|token| MetadataValue::try_from(format!("Bearer {token}")))
            .transpose()
            .map_err(|_| "the token is not usable in a header".to_owned())?;
        let endpoint = endpoint.tcp_nodelay(true);
        let channels = (0..connections.max(1))
            .map(|_| endpoint.connect_lazy())
            .collect();
        Ok(Self {
            channels,
            authorization,
            batch_path: method_path("RecommendBatch"),
            stream_path: method_path("Recommend"),
        })
    }

    /// The request with the token, if there is one.
    fn request(&self, message: RecommendationRequest) -> Request<RecommendationRequest> {
        let mut request = Request::new(message);
        if let Some(authorization) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", authorization.clone());
        }
        request
    }

    /// `RecommendBatch`: the one answer message, undecoded.
    pub(crate) async fn recommend_batch(
        &self,
        user: usize,
        request: RecommendationRequest,
    ) -> Result<Bytes, Failure> {
        let mut client = self.ready_client(user).await?;
        let response = client
            .unary(
                self.request(request),
                self.batch_path.clone(),
                BookBytesCodec,
            )
            .await
            .map_err(status_failure)?;
        Ok(response.into_inner())
    }

    /// `Recommend`: the stream of answer messages, each undecoded.
    pub(crate) async fn recommend(
        &self,
        user: usize,
        request: RecommendationRequest,
    ) -> Result<Streaming<Bytes>, Failure> {
        let mut client = self.ready_client(user).await?;
        let response = client
            .server_streaming(
                self.request(request),
                self.stream_path.clone(),
                BookBytesCodec,
            )
            .await
            .map_err(status_failure)?;
        Ok(response.into_inner())
    }

    /// The client for `user`, on that user's connection, ready to send.
    async fn ready_client(&self, user: usize) -> Result<Grpc<Channel>, Failure> {
        let channel = self.channels[user % self.channels.len()].clone();
        // The server's --max-message-bytes is the limit under test, not the
        // client's 4 MiB default: 100,000 books in one message are ~10 MB.
        let mut client = Grpc::new(channel).max_decoding_message_size(usize::MAX);
        client.ready().await.map_err(|error| {
            Failure::new(
                FailureKind::Transport,
                format!("the channel is not ready: {error}"),
            )
        })?;
        Ok(client)
    }
}

/// The HTTP/2 path of one of the service's methods.
fn method_path(method: &str) -> PathAndQuery {
    format!("/{SERVICE_NAME}/{method}")
        .parse()
        .expect("a service and method name make a valid path")
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
pub(crate) fn wire_bytes(message: &[u8]) -> u64 {
    message.len() as u64 + 5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_paths_name_the_service() {
        assert_eq!(
            method_path("RecommendBatch").as_str(),
            "/recommendations.Recommendations/RecommendBatch"
        );
        assert_eq!(
            method_path("Recommend").as_str(),
            "/recommendations.Recommendations/Recommend"
        );
    }
}
