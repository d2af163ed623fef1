//! The shared token the servers require, presented on every call.

use tonic::{
    Status,
    metadata::{Ascii, MetadataValue},
    service::Interceptor,
};

use super::UpstreamError;

/// Adds `authorization: Bearer <token>` to every request.
#[derive(Clone)]
pub(super) struct BearerToken {
    header: Option<MetadataValue<Ascii>>,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of every log line.
        f.debug_struct("BearerToken")
            .field("set", &self.header.is_some())
            .finish()
    }
}

impl BearerToken {
    pub(super) fn new(token: Option<&str>) -> Result<Self, UpstreamError> {
        let header = token
            .map(|token| {
                MetadataValue::try_from(format!("Bearer {token}"))
                    .map_err(|_| UpstreamError::InvalidToken)
            })
            .transpose()?;
        Ok(Self { header })
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(header) = &self.header {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    }
}
