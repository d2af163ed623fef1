use anyhow::Context;
use bookstream_loadtest::{Opts, report, run};
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let opts = Opts::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = opts.threads {
        runtime.worker_threads(usize::from(threads));
    }
    runtime
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(load(opts))
}

async fn load(opts: Opts) -> anyhow::Result<()> {
    let _telemetry = bookstream::telemetry::init("bookstream-loadtest", opts.log.log_format);
    let report = tokio::select! {
        report = run(opts) => report.context("running the load test")?,
        // Dropping the run kills a spawned server on the way out.
        () = bookstream::shutdown::signal() => anyhow::bail!("interrupted"),
    };
    print!("{}", report::table(&report));
    let failed: u64 = report.scenarios.iter().map(|s| s.requests_failed).sum();
    if failed > 0 {
        anyhow::bail!("{failed} requests failed; see the table and the log above");
    }
    Ok(())
}
