//! Bookstream's load harness: the same books asked for four ways (REST JSON,
//! unary gRPC, gRPC stream, NDJSON stream), every answer checked against the
//! catalog, under a closed (locust-like) or open (wrk2-like) load model.
//!
//! `main` only parses [`Opts`] and calls [`run`]; tests call [`run`] in-process.

pub mod cli;
pub mod load;
pub mod outcome;
pub mod report;
pub mod scenario;
pub mod spawn;
pub mod stats;
pub mod verify;

use std::sync::Arc;

pub use cli::{Opts, ScenarioName};
use load::{LoadModel, Plan};
pub use report::Report;
use report::{ReportError, RunSettings, ScenarioReport};
use scenario::{Scenario, ScenarioError, Settings};
use spawn::{SpawnError, SpawnedServer};
use verify::Expectation;

/// Why a run could not be carried out. Failed requests are not errors: they
/// are counted in the report.
#[derive(Debug, thiserror::Error)]
pub enum LoadtestError {
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// Runs every chosen scenario in turn and writes the report files asked for.
pub async fn run(opts: Opts) -> Result<Report, LoadtestError> {
    let server = if opts.spawn_server {
        let bin = spawn::locate_server(opts.server_bin.as_deref())?;
        Some(SpawnedServer::start(&bin).await?)
    } else {
        None
    };
    let (grpc_url, rest_url) = match &server {
        Some(server) => (server.grpc_url(), server.rest_url()),
        None => (opts.grpc.clone(), opts.rest.clone()),
    };
    let report = run_scenarios(&opts, grpc_url, rest_url).await;
    if let Some(server) = server {
        server.stop().await;
    }
    let report = report?;
    report.write_files(
        opts.json.as_deref(),
        opts.csv.as_deref(),
        opts.chart.as_deref(),
    )?;
    Ok(report)
}

async fn run_scenarios(
    opts: &Opts,
    grpc_url: String,
    rest_url: String,
) -> Result<Report, LoadtestError> {
    let model = match opts.rate {
        Some(rate) => LoadModel::Open {
            rate,
            workers: opts.users,
        },
        None => LoadModel::Closed {
            users: opts.users,
            spawn_rate: opts.spawn_rate,
        },
    };
    let plan = Plan {
        warmup: opts.warmup,
        run_time: opts.run_time,
        timeout: opts.timeout,
    };
    let settings = Settings {
        grpc_url,
        rest_url,
        user_id: opts.user_id,
        max_results: opts.max_results,
        connections: opts.connections() as usize,
        token: opts.token.clone(),
    };
    let expectation = Arc::new(Expectation::new(opts.user_id, opts.max_results));

    let mut scenarios = Vec::with_capacity(opts.scenarios.len());
    for &name in &opts.scenarios {
        let scenario = Scenario::new(name, &settings, Arc::clone(&expectation))?;
        tracing::info!(scenario = %name, ?model, "running");
        let measured = load::run(Arc::new(scenario), model, plan, name.as_str()).await;
        let report = ScenarioReport::new(name, model, &measured);
        tracing::info!(
            scenario = %name,
            ok = report.requests_ok,
            failed = report.requests_failed,
            requests_per_s = format!("{:.1}", report.requests_per_s),
            "done"
        );
        for (kind, detail) in &report.first_errors {
            tracing::warn!(scenario = %name, "first {kind} failure: {detail}");
        }
        scenarios.push(report);
    }

    Ok(Report {
        settings: RunSettings {
            load: model,
            max_results: opts.max_results,
            user_id: opts.user_id,
            connections: opts.connections(),
            run_time_s: opts.run_time.as_secs_f64(),
            warmup_s: opts.warmup.as_secs_f64(),
            timeout_s: opts.timeout.as_secs_f64(),
        },
        scenarios,
    })
}
