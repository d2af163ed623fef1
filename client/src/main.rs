use anyhow::Context;
use bookstream_client::{Client, ClientConfig};
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let config = ClientConfig::parse();
    bookstream::memory::cap_malloc_arenas();
    // One thread consumes a stream faster than a pool of workers handing it
    // around, and keeps peak memory flat on long runs (see trigger-bench).
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(config))
}

async fn serve(config: ClientConfig) -> anyhow::Result<()> {
    let _telemetry = bookstream::telemetry::init("bookstream-client", config.log.log_format);
    let server: Vec<String> = config.server.iter().map(ToString::to_string).collect();
    let server = server.join(",");
    let output = config.output.clone();
    let client = Client::bind(config).await.context("starting the client")?;
    let base_url = client.base_url()?;
    // The readiness line is for programs that start the client; people read the log.
    println!("{}", bookstream::ready::format_client_line(&base_url));
    tracing::info!(
        %server,
        output = %output.display(),
        "bookstream client ready: open {base_url}1000"
    );
    client
        .serve(bookstream::shutdown::signal())
        .await
        .context("serving triggers")?;
    tracing::info!("bookstream client stopped");
    Ok(())
}
