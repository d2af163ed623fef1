//! The write side: a team's books come in, from files (`server load --from`)
//! and from producers (the `Append` RPC and `POST /recommendations`).
//!
//! Every book passes the same contract ([`records::check_book`]) whatever its
//! transport. Appends are exactly once: a batch carries its producer's
//! sequence (or the REST twin's idempotency key), and the store writes the
//! producer's last sequence in the same transaction as the books, so a batch
//! sent again is answered with the ranks it got the first time. Ranks of a
//! user are given in commit order, without gaps; a committed book never
//! changes. The edges translate [`AppendError`] once each, like reads.

pub mod append;
pub mod import;
mod postgres;
pub mod records;
mod sqlite;

pub use append::{Ack, AppendError, Appender, Batch, Origin};
