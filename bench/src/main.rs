use bookstream_bench::{BenchOpts, run, write_json};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let opts = BenchOpts::parse();
    let telemetry = bookstream::telemetry::init("bookstream-bench", opts.log.log_format);
    let report = run(&opts).await?;
    print!("{}", report.render());
    if let Some(path) = &opts.json {
        write_json(&report, path)?;
    }
    if !report.all_met() {
        drop(telemetry);
        std::process::exit(1);
    }
    Ok(())
}
