//! Connections that never finish their request (slowloris) against the real
//! `server` under a low file-descriptor limit: both listeners keep answering
//! their health checks, and slow connections are closed.

use std::time::Duration;

use bookstream_testkit::{
    metrics,
    slowloris::{HTTP1_PARTIAL, HTTP2_PARTIAL, closed_within, flood},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::cli::serving_launched;

/// Far fewer descriptors than the flood's connections, and fewer than the
/// default `--max-connections` of both listeners together.
const DESCRIPTORS: u64 = 200;
const FLOOD: usize = 300;

#[tokio::test]
async fn a_flood_of_slow_connections_leaves_both_listeners_answering() {
    let (_server, grpc, rest) = serving_launched(|launch| launch.descriptors(DESCRIPTORS)).await;
    let _rest_flood = flood(rest, FLOOD, HTTP1_PARTIAL).await;
    let _grpc_flood = flood(grpc, FLOOD, HTTP2_PARTIAL).await;

    for _ in 0..20 {
        // A fresh connection each time, as a probe makes one.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let health = client
            .get(format!("http://{rest}/health"))
            .send()
            .await
            .expect("REST health answers through the flood");
        assert_eq!(health.status(), 200);
    }
    for _ in 0..5 {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))
            .unwrap()
            .connect()
            .await
            .expect("gRPC connects through the flood");
        let status = HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .expect("gRPC health answers through the flood")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32);
    }

    let scrape = metrics::scrape(&format!("http://{rest}/metrics")).await;
    for listener in ["rest", "grpc"] {
        let shed = metrics::value(
            &scrape,
            "bookstream_connections_closed_total",
            &[("listener", listener), ("reason", "shed")],
        );
        assert!(shed > 0.0, "{listener}: slow connections gave way ({shed})");
    }
}

#[tokio::test]
async fn a_connection_that_does_not_finish_its_request_head_is_closed() {
    let (_server, grpc, rest) =
        serving_launched(|launch| launch.envs(&[("BOOKSTREAM_HEADER_READ_TIMEOUT", "300ms")]))
            .await;
    let mut slow_rest = flood(rest, 1, HTTP1_PARTIAL).await;
    let mut slow_grpc = flood(grpc, 1, HTTP2_PARTIAL).await;
    for slow in slow_rest.iter_mut().chain(slow_grpc.iter_mut()) {
        assert!(closed_within(slow, Duration::from_secs(30)).await);
    }
    let scrape = metrics::scrape(&format!("http://{rest}/metrics")).await;
    for listener in ["rest", "grpc"] {
        let timed_out = metrics::value(
            &scrape,
            "bookstream_connections_closed_total",
            &[("listener", listener), ("reason", "header_timeout")],
        );
        assert_eq!(timed_out, 1.0, "{listener}");
    }
}
