//! The service over real HTTP: health, readiness, the JSON error shape, and the published API
//! contract.

mod support;

use std::net::TcpListener;

use photo_ledger::configuration::Settings;
use photo_ledger::startup::Application;
use support::{Backend, TestStore};

async fn spawn(backend: Backend) -> (String, TestStore) {
    let store = TestStore::new(backend).await;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut settings = Settings::new(store.settings.clone());
    settings.dev = true;
    let app = Application::build(&settings, listener)
        .await
        .expect("service starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    (address, store)
}

async fn health_and_errors(backend: Backend) {
    let (address, _store) = spawn(backend).await;
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{address}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = client
        .get(format!("{address}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["projection_lag_events"], 0);
    let missing = client
        .get(format!("{address}/no/such/route"))
        .header("x-request-id", "req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["code"], "http.not_found");
    assert_eq!(body["request_id"], "req-42");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn health_and_errors_on_sqlite() {
    health_and_errors(Backend::Sqlite).await;
}

#[tokio::test]
async fn health_and_errors_on_postgres() {
    health_and_errors(Backend::Postgres).await;
}

/// The OpenAPI document is the contract clients are generated from: it changes only on purpose.
/// After a deliberate change, rewrite `fixtures/openapi.json` from `GET /api/v1/openapi.json`
/// (`python3 -m json.tool --indent 2`) and say what changed in the commit.
#[tokio::test]
async fn the_openapi_document_changes_only_on_purpose() {
    let (address, _store) = spawn(Backend::Sqlite).await;
    let served: serde_json::Value = reqwest::get(format!("{address}/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kept: serde_json::Value = serde_json::from_str(include_str!("../fixtures/openapi.json"))
        .expect("fixtures/openapi.json is JSON");
    assert!(
        served == kept,
        "the OpenAPI document changed; if on purpose, update fixtures/openapi.json:\n{}",
        serde_json::to_string_pretty(&served).unwrap()
    );
}

/// Clients generated from the document name each operation by its id: no two may share one.
#[test]
fn every_operation_has_an_id_of_its_own() {
    let document: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/openapi.json"))
            .expect("fixtures/openapi.json is JSON");
    let mut seen = std::collections::BTreeMap::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            if let Some(other) = seen.insert(id.to_string(), format!("{method} {path}")) {
                panic!("{method} {path} and {other} are both {id}");
            }
        }
    }
}

/// `/` is a page for a person with a browser: every link on it answers, and its policy lets
/// nothing run or load but its own style.
#[tokio::test]
async fn the_home_page_links_what_there_is_to_see() {
    let (address, _store) = spawn(Backend::Sqlite).await;
    let client = reqwest::Client::new();
    let home = client.get(format!("{address}/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    assert_eq!(home.headers()["content-type"], "text/html; charset=utf-8");
    let policy = home.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        policy.starts_with("default-src 'none'; style-src 'sha256-"),
        "{policy}"
    );
    let page = home.text().await.unwrap();
    assert!(page.contains(env!("CARGO_PKG_VERSION")));
    let links: Vec<&str> = page
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(href, _)| href))
        .collect();
    assert_eq!(
        links,
        [
            "/console/sign-in",
            "/api/v1/openapi.json",
            "/healthz",
            "/readyz",
            "/metrics"
        ]
    );
    for link in links {
        let answer = client.get(format!("{address}{link}")).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{link}");
    }
}

/// What the HTTP parser refuses before any route sees it (more headers than it holds, a raw
/// 0xFF in the path) is answered in the same error shape as everything else, then the
/// connection is closed.
#[tokio::test]
async fn requests_the_parser_cannot_read_get_the_error_shape_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (address, _store) = spawn(Backend::Sqlite).await;
    let host = address.trim_start_matches("http://");
    let too_many_headers = {
        let mut head = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
        for i in 0..100 {
            head.push_str(&format!("X-Header-{i}: {i}\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    };
    let unreadable_path = b"GET /api/v1/\xFF HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    for (request, status, code) in [
        (too_many_headers, "431", "http.request_head_too_large"),
        (unreadable_path, "400", "http.malformed_request"),
    ] {
        let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
        stream.write_all(&request).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8(answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["code"], code, "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    }
}
