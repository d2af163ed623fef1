//! `--server dns:///NAME:PORT`: every address NAME resolves to is a server,
//! runs spread over them, and the set follows the name as it changes. The
//! name really resolves, through the system resolver, to several loopback
//! addresses (lines in /etc/hosts, see the testkit).

use std::{net::IpAddr, time::Duration};

use bookstream_client::ClientConfig;
use bookstream_server::ServerConfig;
use bookstream_testkit::{hosts::HostsName, metrics};
use reqwest::StatusCode;

use crate::support::{
    TestClient, TestServer, generated_file, spawn_client_with, spawn_server, spawn_server_with,
};

const BOOKS: u64 = 400_000;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Two servers on the same port at 127.0.0.2 and 127.0.0.3, as two replicas
/// behind one name are; the first ends its streams at once when shut down.
async fn two_replicas() -> (TestServer, TestServer) {
    let first = spawn_server_with(ServerConfig {
        grpc_addr: "127.0.0.2:0".parse().unwrap(),
        rest_addr: "127.0.0.2:0".parse().unwrap(),
        shutdown_grace: Duration::ZERO,
        ..ServerConfig::defaults()
    })
    .await;
    let second = spawn_server_with(ServerConfig {
        grpc_addr: format!("127.0.0.3:{}", first.grpc_addr.port())
            .parse()
            .unwrap(),
        rest_addr: "127.0.0.3:0".parse().unwrap(),
        shutdown_grace: Duration::ZERO,
        ..ServerConfig::defaults()
    })
    .await;
    (first, second)
}

async fn client_for(targets: &[String]) -> TestClient {
    let targets: Vec<_> = targets
        .iter()
        .map(|target| target.parse().unwrap())
        .collect();
    spawn_client_with("http://unused", move |config| ClientConfig {
        server: targets,
        resolve_interval: Duration::from_millis(50),
        ..config
    })
    .await
}

/// The server URLs the client's /health lists.
async fn listed(client: &TestClient) -> Vec<String> {
    let (_, health) = client.get_json("/health").await;
    let mut urls: Vec<String> = health["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|server| server["url"].as_str().unwrap().to_owned())
        .collect();
    urls.sort();
    urls
}

/// Polls the client's /health until it lists exactly `expected`.
async fn wait_until_listed(client: &TestClient, expected: &[String]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let urls = listed(client).await;
        if urls == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "listed {urls:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn streams_started(server: &TestServer) -> f64 {
    let scrape = metrics::scrape(&format!("http://{}/metrics", server.rest_addr)).await;
    metrics::value(
        &scrape,
        "grpc_server_started_total",
        &[("grpc_method", "Recommend")],
    )
}

#[tokio::test]
async fn runs_spread_over_every_address_a_name_resolves_to() {
    let Some(name) = HostsName::add(&[ip("127.0.0.2"), ip("127.0.0.3")]) else {
        return;
    };
    let (first, second) = two_replicas().await;
    let port = first.grpc_addr.port();
    let client = client_for(&[format!("dns:///{}:{port}", name.name())]).await;

    let expected = vec![
        format!("http://127.0.0.2:{port}"),
        format!("http://127.0.0.3:{port}"),
    ];
    assert_eq!(
        listed(&client).await,
        expected,
        "resolved before the first trigger"
    );
    let (_, health) = client.get_json("/health").await;
    assert_eq!(
        health["servers"][0]["target"],
        format!("dns:///{}:{port}", name.name())
    );
    for _ in 0..4 {
        let (status, body) = client.get_json("/100").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(streams_started(&first).await, 2.0);
    assert_eq!(streams_started(&second).await, 2.0);
}

#[tokio::test]
async fn names_and_urls_mix_and_the_set_follows_the_name() {
    let Some(name) = HostsName::add(&[]) else {
        return;
    };
    let (first, second) = two_replicas().await;
    let port = first.grpc_addr.port();
    let plain = spawn_server().await;
    let client = client_for(&[format!("dns:///{}:{port}", name.name()), plain.url()]).await;

    // The name resolves to nothing yet: the plain URL serves alone.
    assert_eq!(listed(&client).await, vec![plain.url()]);
    assert_eq!(client.get_json("/10").await.0, StatusCode::OK);

    // Replicas appear, then one goes: the set follows within a resolve interval.
    name.set(&[ip("127.0.0.2"), ip("127.0.0.3")]);
    let mut all = vec![
        format!("http://127.0.0.2:{port}"),
        format!("http://127.0.0.3:{port}"),
        plain.url(),
    ];
    all.sort();
    wait_until_listed(&client, &all).await;
    name.set(&[ip("127.0.0.3")]);
    let mut left = vec![format!("http://127.0.0.3:{port}"), plain.url()];
    left.sort();
    wait_until_listed(&client, &left).await;
    assert_eq!(client.get_json("/10").await.0, StatusCode::OK);
    let _replicas = (first, second);
}

#[tokio::test]
async fn a_run_on_an_address_that_vanishes_mid_stream_resumes_on_another_into_the_same_file() {
    let Some(name) = HostsName::add(&[ip("127.0.0.2"), ip("127.0.0.3")]) else {
        return;
    };
    let (mut first, mut second) = two_replicas().await;
    let port = first.grpc_addr.port();
    let client = client_for(&[format!("dns:///{}:{port}", name.name())]).await;
    let run = client.get_json_in_background(&format!("/{BOOKS}"));

    // Whichever replica took the stream: its address vanishes, then it goes down.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (vanishing, staying) = loop {
        if streams_started(&first).await > 0.0 {
            break (&mut first, "127.0.0.3");
        }
        if streams_started(&second).await > 0.0 {
            break (&mut second, "127.0.0.2");
        }
        assert!(tokio::time::Instant::now() < deadline, "no stream started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    name.set(&[ip(staying)]);
    vanishing.begin_shutdown();

    let (client, (status, body)) = run.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["retries"].as_u64().unwrap() >= 1, "{body}");
    assert!(
        std::fs::read(&client.output).unwrap()
            == generated_file(1, BOOKS, bookstream_client::sink::Format::Txt),
        "the resumed file differs"
    );
    wait_until_listed(&client, &[format!("http://{staying}:{port}")]).await;
}
