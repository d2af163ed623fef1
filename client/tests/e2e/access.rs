//! The trigger listener is its owner's: a listen token guards runs and
//! files (a bearer header for programs, a sign-in cookie for browsers), and
//! requests naming a foreign host (DNS rebinding) are refused.

use bookstream_client::ClientConfig;
use reqwest::{StatusCode, header};

use crate::support::{TestClient, spawn_client_with, spawn_server};

const TOKEN: &str = "correct horse battery staple";

async fn guarded_client() -> (crate::support::TestServer, TestClient) {
    let server = spawn_server().await;
    let client = spawn_client_with(&server.url(), |config| ClientConfig {
        listen_token: Some(TOKEN.to_owned()),
        allowed_host: vec!["books.example".to_owned()],
        ..config
    })
    .await;
    (server, client)
}

/// Follows no redirects, so each answer is seen as sent.
fn caller() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn without_the_token_runs_and_files_are_refused_and_probes_still_answer() {
    let (_server, client) = guarded_client().await;
    for path in [
        "/10",
        "/runs",
        "/runs/1",
        "/runs/1/file",
        "/runs/1/events",
        "/",
    ] {
        let refused = caller().get(client.url(path)).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(refused.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let body = refused.text().await.unwrap();
        assert!(body.contains("Authorization: Bearer"), "{body}");
    }
    let stop = caller()
        .post(client.url("/runs/1/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), StatusCode::UNAUTHORIZED);
    let wrong = caller()
        .get(client.url("/10"))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(
        client.files().is_empty(),
        "nothing ran: {:?}",
        client.files()
    );

    for path in ["/health", "/metrics"] {
        let open = caller().get(client.url(path)).send().await.unwrap();
        assert_eq!(open.status(), StatusCode::OK, "{path}");
    }
    let run = caller()
        .get(client.url("/10"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), StatusCode::OK);
    let file = caller()
        .get(client.url("/runs/1/file"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.text().await.unwrap().lines().count(), 10);
}

#[tokio::test]
async fn a_browser_signs_in_once_and_then_uses_its_cookie() {
    let (_server, client) = guarded_client().await;
    // A page asked for without a session leads to the sign-in form.
    let asked = caller()
        .get(client.url("/runs?x=1"))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::SEE_OTHER);
    let login = asked.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(login, "/login?next=/runs%3Fx%3D1");
    let form = caller().get(client.url(&login)).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert!(form.text().await.unwrap().contains(r#"type="password""#));

    // A wrong token sets nothing.
    let wrong = caller()
        .post(client.url("/login"))
        .form(&[("token", "guess"), ("next", "/runs?x=1")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(header::SET_COOKIE).is_none());

    // The right one sets an HttpOnly, SameSite=Strict cookie and goes back.
    let signed_in = caller()
        .post(client.url("/login"))
        .form(&[("token", TOKEN), ("next", "/runs?x=1")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()[header::LOCATION], "/runs?x=1");
    let cookie = signed_in.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains(TOKEN), "the cookie never holds the token");
    let session = cookie.split(';').next().unwrap().to_owned();

    let page = caller()
        .get(client.url("/runs"))
        .header(header::ACCEPT, "text/html")
        .header(header::COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    // Sign-in never sends the browser to another site.
    let elsewhere = caller()
        .post(client.url("/login"))
        .form(&[("token", TOKEN), ("next", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.headers()[header::LOCATION], "/");
}

#[tokio::test]
async fn a_request_naming_a_foreign_host_is_refused_as_dns_rebinding_would_send_it() {
    let (_server, client) = guarded_client().await;
    let port = client.addr.port();
    let runs_as = |host: String| {
        caller()
            .get(client.url("/runs"))
            .bearer_auth(TOKEN)
            .header(header::HOST, host)
            .send()
    };
    for host in [
        format!("evil.example:{port}"),
        "rebind.attacker.test".to_owned(),
    ] {
        let refused = runs_as(host.clone()).await.unwrap();
        assert_eq!(refused.status(), StatusCode::MISDIRECTED_REQUEST, "{host}");
        let body = refused.text().await.unwrap();
        assert!(body.contains("--allowed-host"), "{body}");
    }
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("books.example:{port}"),
    ] {
        let answered = runs_as(host.clone()).await.unwrap();
        assert_eq!(answered.status(), StatusCode::OK, "{host}");
    }
    // Probes and scrapers reach a Service by its name.
    let probe = caller()
        .get(client.url("/metrics"))
        .header(header::HOST, "bookstream-client:3333")
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), StatusCode::OK);
}
