//! How a run that did not deliver every book ended, said once: the error,
//! its shortfall, and what arrived before it.

use std::path::PathBuf;

use super::Break;
use crate::{sink::SinkError, upstream::UpstreamError};

/// Why a run did not produce the complete file.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The stream never started, after `retries` tries: no file was touched.
    #[error("{source}")]
    Upstream {
        retries: u32,
        #[source]
        source: UpstreamError,
    },
    /// The stream started but did not deliver everything, even after
    /// retrying; what arrived was kept.
    #[error(
        "the stream stopped after {received} of {requested} books ({retries} retries): {cause}"
    )]
    Interrupted {
        requested: u64,
        received: u64,
        retries: u32,
        #[source]
        cause: Break,
        partial_file: Option<PathBuf>,
    },
    /// Stopped by a person (`POST /runs/{id}/cancel`); what arrived was kept.
    #[error("the run was stopped after {received} books")]
    Cancelled {
        received: u64,
        retries: u32,
        partial_file: Option<PathBuf>,
    },
    /// The file could not be written.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// How a run that did not deliver every book ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    /// The stream broke for good; what arrived was kept.
    Partial,
    /// A person stopped it; what arrived was kept.
    Cancelled,
    /// No stream, or no file.
    Failed,
}

impl Shortfall {
    /// The word logs and metrics use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Partial => "partial",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }
}

/// What a run that fell short got: its books, retries and the file that
/// keeps them.
#[derive(Debug, Clone, Copy)]
pub struct Arrived<'a> {
    pub received: u64,
    pub retries: u32,
    pub partial_file: Option<&'a std::path::Path>,
}

impl RunError {
    /// How the run ended; the one place a `RunError` says it.
    pub fn shortfall(&self) -> Shortfall {
        match self {
            Self::Interrupted { .. } => Shortfall::Partial,
            Self::Cancelled { .. } => Shortfall::Cancelled,
            Self::Upstream { .. } | Self::Sink(_) => Shortfall::Failed,
        }
    }

    /// What arrived before the end; `None` when the file itself failed.
    pub fn arrived(&self) -> Option<Arrived<'_>> {
        match self {
            Self::Interrupted {
                received,
                retries,
                partial_file,
                ..
            }
            | Self::Cancelled {
                received,
                retries,
                partial_file,
            } => Some(Arrived {
                received: *received,
                retries: *retries,
                partial_file: partial_file.as_deref(),
            }),
            // No stream opened: nothing arrived, after these retries.
            Self::Upstream { retries, .. } => Some(Arrived {
                received: 0,
                retries: *retries,
                partial_file: None,
            }),
            Self::Sink(_) => None,
        }
    }
}
