//! Keeping CPU-heavy answers off the async workers.

use std::future::Future;

use tokio::task::JoinError;

/// Runs `future` to completion on a blocking thread. Building a one-shot
/// answer of tens of megabytes never waits for I/O once its books are ready,
/// so on an async worker it would hold up every other connection meanwhile.
pub async fn off_the_workers<T: Send + 'static>(
    future: impl Future<Output = T> + Send + 'static,
) -> Result<T, JoinError> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(future)).await
}
