//! The contract: the OpenAPI document the service serves, checked against the service itself by
//! schemathesis (PyPI; `.ci/run` installs the pinned version into `.schemathesis/`). For every
//! role — nobody signed in, a student, a reviewer, print staff, an admin — schemathesis sends
//! examples, edge cases and fuzzed requests to every operation, with its checks on: no 5xx, every
//! status and body as documented, invalid input refused, authentication enforced. Path
//! parameters are a real capture of the student's, its paid order and its standard photo, so the
//! requests reach the routes' logic rather than stopping at 404.
//!
//! Not checked: that schema-valid input is accepted (`positive_data_acceptance`). The document
//! cannot say that a school must exist or that a capture must be paid before it is submitted,
//! so valid-looking requests are refused by the rules, as they should be.

use std::process::Command;

use crate::api_support::*;
use crate::support::Backend;

on_both_stores!(every_role_gets_what_the_document_promises);

/// Examples per operation and phase: enough to find what the checks look for in a few seconds
/// per role.
const MAX_EXAMPLES: &str = "25";

async fn every_role_gets_what_the_document_promises(backend: Backend) {
    let program = tools::program("SCHEMATHESIS", ".schemathesis", "schemathesis");
    if let Err(e) = Command::new(&program).arg("--version").output() {
        tools::cannot_run("schemathesis", &program, &e, ".schemathesis");
        return;
    }
    let app = TestApp::spawn_with(backend, with_photos).await;
    let student = app.student("openid-contract").await;
    let capture = app.open_capture(&student, &WU).await;
    let order = order_fee(&app, &student, &capture).await;
    app.pay(&order, FEE_FEN).await;
    let photo = app.standard_photo_of(&capture, &student).await;
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!(
            "[parameters]\ncapture_id = \"{capture}\"\norder_id = \"{order}\"\nphoto_id = \"{photo}\"\n"
        ),
    )
    .unwrap();
    let roles = [
        ("nobody", None),
        ("student", Some(student)),
        ("reviewer", Some(app.staff("reviewer").await)),
        ("courier", Some(app.staff("courier").await)),
        ("admin", Some(app.staff("admin").await)),
    ];
    let document = app.url("/api/v1/openapi.json");
    let mut failed = Vec::new();
    for (role, token) in roles {
        let mut run = Command::new(&program);
        run.arg("--no-color")
            .arg("--config-file")
            .arg(config.path())
            .args(["run", &document, "--checks", "all"])
            .args(["--exclude-checks", "positive_data_acceptance"])
            .args([
                "--max-examples",
                MAX_EXAMPLES,
                "--seed",
                "1",
                "--workers",
                "1",
            ]);
        if let Some(token) = token {
            run.args(["--header", &format!("Authorization: Bearer {token}")]);
        }
        let output = tokio::task::spawn_blocking(move || run.output())
            .await
            .unwrap()
            .expect("schemathesis runs");
        if !output.status.success() {
            failed.push(format!(
                "── as {role}:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
