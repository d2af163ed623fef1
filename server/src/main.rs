use std::process::ExitCode;

use anyhow::Context;
use bookstream::display::thousands;
use bookstream::ready;
use bookstream_server::{
    Server, ServerConfig,
    config::{Cli, Command, FileArgs, LoadArgs},
    ingest::{
        import::{self, ImportRequest, Mode},
        records::Format,
    },
    source::load,
};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    bookstream::memory::cap_malloc_arenas();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, every cause in it: what a person or a supervisor's log needs.
            eprintln!(
                "server: {}",
                bookstream::display::error_chain(error.chain())
            );
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match cli.command {
        Some(Command::Load(args)) => runtime.block_on(fill(args)),
        None => runtime.block_on(serve(cli.serve)),
    }
}

async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    let _telemetry = bookstream::telemetry::init("bookstream-server", config.log.log_format);
    let catalog = config.catalog.to_string();
    let server = Server::bind(config).await.context("starting the server")?;
    // The readiness line is for programs that start the server; people read the log.
    println!(
        "{}",
        ready::format_line(server.grpc_addr(), server.rest_addr())
    );
    tracing::info!(
        grpc_addr = %server.grpc_addr(),
        rest_addr = %server.rest_addr(),
        %catalog,
        "bookstream server ready"
    );
    server
        .serve(bookstream::shutdown::signal())
        .await
        .context("serving recommendations")?;
    tracing::info!("bookstream server stopped");
    Ok(())
}

/// `server load`: fills a store, with a progress bar on a terminal and the rate at the end.
async fn fill(args: LoadArgs) -> anyhow::Result<()> {
    let _telemetry = bookstream::telemetry::init("bookstream-load", args.log.log_format);
    if args.file.from.is_some() {
        return import(args).await;
    }
    let request = args.request();
    let progress = load::Progress::new(request.total_books());
    let report = load::load(&args.catalog, request, &progress).await?;
    println!(
        "loaded {} books (users {}, {} each) into {} in {:.2} s: {} rows/s",
        thousands(report.books),
        request.users,
        thousands(request.books),
        args.catalog,
        report.elapsed.as_secs_f64(),
        thousands(report.books_per_second() as u64)
    );
    Ok(())
}

/// Bad rows printed on stderr before the rest go only to the rejects file.
const REJECTS_SHOWN: u64 = 20;

/// `server load --from`: a team's file into the store, all or nothing.
async fn import(args: LoadArgs) -> anyhow::Result<()> {
    let FileArgs {
        from,
        format,
        columns,
        append,
        max_errors,
        rejects,
    } = args.file;
    let input = from.context("--from names the file to load")?;
    let format = match format {
        Some(format) => format,
        None => Format::from_input(&input)?,
    };
    let request = ImportRequest {
        rejects: rejects.or_else(|| import::rejects_beside(&input)),
        input,
        format,
        columns,
        mode: if append { Mode::Append } else { Mode::Replace },
        max_errors,
    };
    let mut shown = 0u64;
    let progress = load::Progress::rows();
    let report = import::import(&args.catalog, request, &progress, move |rejection| {
        shown += 1;
        if shown <= REJECTS_SHOWN {
            eprintln!("server: rejected {rejection}");
        } else if shown == REJECTS_SHOWN + 1 {
            eprintln!("server: more rows rejected; every one is in the rejects file");
        }
    })
    .await?;
    let rejected = match &report.rejects {
        Some(path) if report.rejected > 0 => format!(
            "; {} bad rows skipped (in {})",
            thousands(report.rejected),
            path.display()
        ),
        _ if report.rejected > 0 => format!("; {} bad rows skipped", thousands(report.rejected)),
        _ => String::new(),
    };
    println!(
        "loaded {} books for {} users into {} in {:.2} s: {} rows/s{rejected}",
        thousands(report.books),
        thousands(report.users),
        args.catalog,
        report.elapsed.as_secs_f64(),
        thousands(report.books_per_second() as u64)
    );
    Ok(())
}
