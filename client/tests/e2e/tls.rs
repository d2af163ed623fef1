//! TLS, with a CA and a `localhost` certificate made at test time: gRPC
//! between the client and the server, and HTTPS on the trigger.

use std::path::{Path, PathBuf};

use bookstream_client::{Client, ClientConfig, sink::Format};
use bookstream_server::ServerConfig;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use reqwest::StatusCode;

use crate::support::{expected_books, read_back, spawn_client_with, spawn_server_with};

/// A CA, and a certificate for `localhost` signed by it, as PEM files.
struct TestPki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_pki() -> TestPki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: String| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    TestPki {
        ca: write("ca.pem", ca.pem()),
        cert: write("server.pem", server_cert.pem()),
        key: write("server.key", server_key.serialize_pem()),
        _dir: dir,
    }
}

async fn tls_server(pki: &TestPki) -> crate::support::TestServer {
    spawn_server_with(ServerConfig {
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        rest_addr: "127.0.0.1:0".parse().unwrap(),
        tls_cert: Some(pki.cert.clone()),
        tls_key: Some(pki.key.clone()),
        ..ServerConfig::defaults()
    })
    .await
}

fn https_url(server: &crate::support::TestServer) -> String {
    // The certificate names localhost, so the client must too.
    format!("https://localhost:{}", server.grpc_addr.port())
}

#[tokio::test]
async fn a_client_trusting_the_ca_streams_over_tls() {
    let pki = make_pki();
    let server = tls_server(&pki).await;
    let ca = pki.ca.clone();
    let client = spawn_client_with(&https_url(&server), |config| ClientConfig {
        ca: Some(ca),
        ..config
    })
    .await;

    let (status, body) = client.get_json("/500").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        read_back(&client.output, Format::Txt),
        expected_books(1, 500, Format::Txt)
    );
}

#[tokio::test]
async fn a_client_trusting_another_ca_or_speaking_plaintext_gets_nothing() {
    let pki = make_pki();
    let server = tls_server(&pki).await;
    let stranger = make_pki();

    let distrustful = spawn_client_with(&https_url(&server), |config| ClientConfig {
        ca: Some(stranger.ca.clone()),
        ..config
    })
    .await;
    let plaintext =
        spawn_client_with(&format!("http://{}", server.grpc_addr), |config| config).await;

    for client in [&distrustful, &plaintext] {
        let (status, body) = client.get_json("/10").await;
        assert!(status.is_server_error(), "{status}: {body}");
        assert!(client.files().is_empty(), "{:?}", client.files());
    }
}

#[tokio::test]
async fn an_https_server_without_a_ca_is_a_startup_error_that_says_so() {
    let config = ClientConfig {
        server: vec!["https://localhost:1".parse().unwrap()],
        ..crate::support::client_config("http://unused", Path::new("books.out"))
    };
    let error = Client::bind(config).await.unwrap_err().to_string();
    assert!(error.contains("--ca"), "{error}");
}

#[tokio::test]
async fn the_trigger_serves_https_to_callers_that_trust_its_ca() {
    let pki = make_pki();
    let server = crate::support::spawn_server().await;
    let (cert, key) = (pki.cert.clone(), pki.key.clone());
    let client = spawn_client_with(&server.url(), |config| ClientConfig {
        tls_cert: Some(cert),
        tls_key: Some(key),
        ..config
    })
    .await;
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&pki.ca).unwrap()).unwrap();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(ca)
        .resolve("localhost", client.addr)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/25", client.addr.port());

    let response = trusting.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["received"], 25);

    // Plain HTTP and callers without the CA get no answer at all.
    assert!(reqwest::get(client.url("/25")).await.is_err());
    let stranger = reqwest::Client::builder()
        .resolve("localhost", client.addr)
        .build()
        .unwrap();
    assert!(stranger.get(&url).send().await.is_err());
}
