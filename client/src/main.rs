use anyhow::Context;
use bookstream_client::{Client, ClientConfig};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ClientConfig::parse();
    bookstream::telemetry::init();
    let server = config.server.clone();
    let output = config.output.clone();
    let client = Client::bind(config).await.context("starting the client")?;
    let addr = client.local_addr()?;
    // The readiness line is for programs that start the client; people read the log.
    println!("bookstream client ready: http://{addr}/");
    tracing::info!(
        %server,
        output = %output.display(),
        "bookstream client ready: open http://{addr}/1000"
    );
    client
        .serve(bookstream::shutdown::signal())
        .await
        .context("serving triggers")?;
    tracing::info!("bookstream client stopped");
    Ok(())
}
