//! `grpc-append` and `rest-append`: the same batches of books appended
//! through the streaming `Append` RPC and through `POST /recommendations`.
//! A request is one batch of `--max-results` books; its latency is the time
//! to the server's ack, which comes once the batch is committed.
//!
//! Each user is one producer with a stream of its own, kept open across its
//! requests; its acks are checked against what it sent (the sequence, the
//! book count, ranks that only grow, never a duplicate).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use bookstream::{
    catalog,
    pb::{AppendAck, AppendRequest, NewBook, recommendations_client::RecommendationsClient},
};
use bytes::Bytes;
use prost::Message;
use tokio::sync::mpsc;
use tonic::{Request, Streaming};

use super::grpc::{GrpcTarget, status_failure};
use crate::outcome::{Failure, FailureKind, Measurement, Outcome};

/// The books every batch carries: the generated catalog's, as a producer's.
pub(crate) fn batch_books(user_id: u64, books: u64) -> Vec<NewBook> {
    catalog::books(user_id, 0..books)
        .map(|book| NewBook {
            title: book.title,
            author: book.author,
            isbn13: book.isbn13,
            year: book.year,
            genre: book.genre,
            score: book.score,
        })
        .collect()
}

/// Producer ids unique to this run, so that runs never answer each other's batches.
fn run_nonce() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    format!("loadtest-{}-{nanos}", std::process::id())
}

/// The gRPC producers of a run, one per user.
#[derive(Debug)]
pub(crate) struct GrpcProducers {
    target: GrpcTarget,
    user_id: u64,
    books: Arc<Vec<NewBook>>,
    nonce: String,
    producers: Mutex<HashMap<usize, Arc<tokio::sync::Mutex<Option<Producer>>>>>,
}

/// One open `Append` call.
#[derive(Debug)]
struct Producer {
    id: String,
    batches: mpsc::Sender<AppendRequest>,
    acks: Streaming<AppendAck>,
    next_sequence: u64,
    last_rank: Option<u64>,
}

impl GrpcProducers {
    pub(crate) fn new(target: GrpcTarget, user_id: u64, books: u64) -> Self {
        Self {
            target,
            user_id,
            books: Arc::new(batch_books(user_id, books)),
            nonce: run_nonce(),
            producers: Mutex::new(HashMap::new()),
        }
    }

    /// Appends one batch as `user`'s producer and waits for its ack.
    pub(crate) async fn request(&self, user: usize) -> Outcome {
        let slot = {
            let mut producers = self
                .producers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(producers.entry(user).or_default())
        };
        let mut slot = slot.lock().await;
        let producer = match slot.as_mut() {
            Some(producer) => producer,
            None => slot.insert(self.open(user).await?),
        };
        let outcome = self.send(producer).await;
        if outcome.is_err() {
            // A broken call is not resumed: the next batch opens a new producer.
            *slot = None;
        }
        outcome
    }

    async fn open(&self, user: usize) -> Result<Producer, Failure> {
        let (channel, authorization) = self.target.ready_channel(user).await?;
        let (batches, outgoing) = mpsc::channel(1);
        let mut request = Request::new(tokio_stream::wrappers::ReceiverStream::new(outgoing));
        if let Some(authorization) = authorization {
            request
                .metadata_mut()
                .insert("authorization", authorization);
        }
        let acks = RecommendationsClient::new(channel)
            .append(request)
            .await
            .map_err(status_failure)?
            .into_inner();
        Ok(Producer {
            id: format!("{}-{user}", self.nonce),
            batches,
            acks,
            next_sequence: 1,
            last_rank: None,
        })
    }

    async fn send(&self, producer: &mut Producer) -> Outcome {
        let sequence = producer.next_sequence;
        let batch = AppendRequest {
            producer_id: producer.id.clone(),
            sequence,
            user_id: self.user_id,
            books: self.books.as_ref().clone(),
        };
        let bytes = batch.encoded_len() as u64 + 5;
        producer.batches.send(batch).await.map_err(|_| {
            Failure::new(
                FailureKind::Transport,
                "the Append call ended before the batch was sent",
            )
        })?;
        let ack = match producer.acks.message().await {
            Ok(Some(ack)) => ack,
            Ok(None) => {
                return Err(Failure::new(
                    FailureKind::Mismatch,
                    "the Append call ended without an ack",
                ));
            }
            Err(status) => return Err(status_failure(status)),
        };
        let expected = self.books.len() as u64;
        let grew = producer.last_rank.is_none_or(|last| ack.first_rank > last);
        if ack.sequence != sequence || ack.books != expected || ack.duplicate || !grew {
            return Err(Failure::new(
                FailureKind::Mismatch,
                format!(
                    "batch {sequence} of {expected} books was acked as batch {} of {} books at rank {} (duplicate: {})",
                    ack.sequence, ack.books, ack.first_rank, ack.duplicate
                ),
            ));
        }
        producer.next_sequence += 1;
        producer.last_rank = Some(ack.first_rank);
        Ok(Measurement {
            books: ack.books,
            bytes,
            first_book: None,
            streaming: None,
        })
    }
}

/// The REST producer of a run: every batch its own POST and idempotency key.
#[derive(Debug)]
pub(crate) struct RestProducer {
    client: reqwest::Client,
    url: String,
    authorization: Option<String>,
    body: Bytes,
    books: u64,
    nonce: String,
    sent: AtomicU64,
}

impl RestProducer {
    pub(crate) fn new(
        rest_url: &str,
        user_id: u64,
        books: u64,
        connections: usize,
        token: Option<&str>,
    ) -> Self {
        let mut body = Vec::new();
        for book in catalog::books(user_id, 0..books) {
            let line = serde_json::json!({
                "title": book.title, "author": book.author, "isbn13": book.isbn13,
                "year": book.year, "genre": book.genre, "score": book.score,
            });
            body.extend_from_slice(line.to_string().as_bytes());
            body.push(b'\n');
        }
        Self {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(connections)
                .build()
                .unwrap_or_default(),
            url: format!(
                "{}/recommendations?user_id={user_id}",
                rest_url.trim_end_matches('/')
            ),
            authorization: token.map(|token| format!("Bearer {token}")),
            body: Bytes::from(body),
            books,
            nonce: run_nonce(),
            sent: AtomicU64::new(0),
        }
    }

    pub(crate) async fn request(&self) -> Outcome {
        let key = format!(
            "{}-{}",
            self.nonce,
            self.sent.fetch_add(1, Ordering::Relaxed)
        );
        let mut request = self
            .client
            .post(&self.url)
            .header("idempotency-key", key)
            .header("content-type", "application/x-ndjson")
            .body(self.body.clone());
        if let Some(authorization) = &self.authorization {
            request = request.header("authorization", authorization);
        }
        let response = request.send().await.map_err(|error| {
            Failure::new(FailureKind::Transport, format!("the POST failed: {error}"))
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|error| {
            Failure::new(
                FailureKind::Transport,
                format!("the answer broke off: {error}"),
            )
        })?;
        if !status.is_success() {
            return Err(Failure::new(FailureKind::HttpStatus(status.as_u16()), text));
        }
        let ack: serde_json::Value = serde_json::from_str(&text)
            .map_err(|error| Failure::new(FailureKind::Mismatch, format!("{error}: {text}")))?;
        if ack["books"].as_u64() != Some(self.books) || ack["duplicate"] != false {
            return Err(Failure::new(
                FailureKind::Mismatch,
                format!("unexpected ack {text}"),
            ));
        }
        Ok(Measurement {
            books: self.books,
            bytes: self.body.len() as u64,
            first_book: None,
            streaming: None,
        })
    }
}
