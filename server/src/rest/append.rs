//! The REST twin of `Append`: `POST /recommendations?user_id=U` with one
//! book per NDJSON line and an `Idempotency-Key` header. The answer is the
//! ranks the books were given; the same key again is answered the same way
//! without writing.

use axum::{
    Json,
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::RestState;
use crate::{
    auth::WriteRefusal,
    ingest::{Ack, AppendError, Batch, Origin, append::checked_book},
};

/// The header that makes a retried POST safe.
pub(super) const IDEMPOTENCY_KEY: &str = "idempotency-key";

#[derive(Debug, Deserialize)]
pub(super) struct AppendQuery {
    user_id: u64,
}

/// One line of the body: a book, with the contract's field names.
#[derive(Debug, Deserialize)]
struct Line {
    title: String,
    author: String,
    #[serde(default)]
    isbn13: String,
    year: i64,
    genre: String,
    score: f64,
}

pub(super) async fn append(
    State(state): State<RestState>,
    query: Result<Query<AppendQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|value| value.as_bytes());
    if let Err(refusal) = state.writes.admit(authorization) {
        return refused(refusal);
    }
    let Ok(Query(AppendQuery { user_id })) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "give the user whose list grows: POST /recommendations?user_id=U".to_owned(),
        );
    };
    let Some(key) = headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|value| value.to_str().ok())
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "send an Idempotency-Key header (a unique string per batch), so that a retried \
             request is answered again instead of written twice"
                .to_owned(),
        );
    };
    let books = match parse(&body) {
        Ok(books) => books,
        Err(error) => return from_error(&error),
    };
    let batch = Batch {
        origin: Origin::Key(key.to_owned()),
        user_id,
        books,
    };
    match state.appender.append("rest", batch).await {
        Ok(ack) => Json(answer(ack)).into_response(),
        Err(error) => from_error(&error),
    }
}

/// The body's books, each checked; a bad line is named by its number (from 1).
fn parse(body: &[u8]) -> Result<Vec<crate::ingest::records::NewBook>, AppendError> {
    let mut books = Vec::new();
    for (index, line) in body.split(|&byte| byte == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line: Line = serde_json::from_slice(line).map_err(|error| AppendError::Invalid {
            index,
            fault: crate::ingest::records::Fault {
                column: "line",
                reason: format!("line {} is not a book: {error}", index + 1),
            },
        })?;
        books.push(checked_book(
            index,
            &line.title,
            &line.author,
            &line.isbn13,
            line.year,
            &line.genre,
            line.score,
        )?);
    }
    Ok(books)
}

fn answer(ack: Ack) -> serde_json::Value {
    serde_json::json!({
        "user_id": ack.user_id,
        "first_rank": ack.first_rank,
        "last_rank": (ack.first_rank + ack.books).saturating_sub(1),
        "books": ack.books,
        "duplicate": ack.duplicate,
    })
}

fn refused(refusal: WriteRefusal) -> Response {
    match refusal {
        WriteRefusal::Off | WriteRefusal::ReadTokenOnly => {
            error(StatusCode::FORBIDDEN, refusal.to_string())
        }
        WriteRefusal::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(serde_json::json!({ "error": refusal.to_string() })),
        )
            .into_response(),
    }
}

fn from_error(append: &AppendError) -> Response {
    let status = match append {
        AppendError::ReadOnly | AppendError::SequenceGap { .. } => StatusCode::CONFLICT,
        AppendError::BadOrigin(_)
        | AppendError::NoBooks
        | AppendError::Invalid { .. }
        | AppendError::BadUser { .. } => StatusCode::BAD_REQUEST,
        AppendError::TooManyBooks { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        AppendError::Full { .. } => StatusCode::INSUFFICIENT_STORAGE,
        AppendError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        AppendError::Failed { .. } => {
            tracing::error!(
                error = append as &dyn std::error::Error,
                "committing a batch failed"
            );
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "committing the batch failed; the server log has the cause".to_owned(),
            );
        }
    };
    error(status, append.to_string())
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
