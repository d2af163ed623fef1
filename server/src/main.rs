use anyhow::Context;
use bookstream_server::{Server, ServerConfig, ready};
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let config = ServerConfig::parse();
    bookstream::memory::cap_malloc_arenas();
    tokio::runtime::Runtime::new()
        .context("starting the async runtime")?
        .block_on(serve(config))
}

async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    bookstream::telemetry::init();
    let server = Server::bind(config).await.context("starting the server")?;
    // The readiness line is for programs that start the server; people read the log.
    println!(
        "{}",
        ready::format_line(server.grpc_addr(), server.rest_addr())
    );
    tracing::info!(
        grpc_addr = %server.grpc_addr(),
        rest_addr = %server.rest_addr(),
        "bookstream server ready"
    );
    server
        .serve(bookstream::shutdown::signal())
        .await
        .context("serving recommendations")?;
    tracing::info!("bookstream server stopped");
    Ok(())
}
