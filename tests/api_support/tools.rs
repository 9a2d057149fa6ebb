//! Programs from PyPI that some tests run (moto's S3 server, schemathesis), each installed by
//! `.ci/run` at a pinned version into a virtual environment of its own in the checkout. A tool is
//! found as its environment variable, then in that virtual environment, then on the PATH. Under
//! CI (`CI=true`) a tool that cannot run fails the test; elsewhere the test says loudly that it
//! did not run.

use std::io::Write;
use std::path::PathBuf;

/// Where `name` is: `$env`, else `<checkout>/<venv>/bin/<name>`, else `name` on the PATH.
pub fn program(env: &str, venv: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return path.into();
    }
    let installed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(venv)
        .join("bin")
        .join(name);
    if installed.exists() {
        return installed;
    }
    name.into()
}

/// `program` could not run (`error`): a failure under CI; elsewhere says the test did not run.
pub fn cannot_run(what: &str, program: &std::path::Path, error: &std::io::Error, venv: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{what} is required under CI and {} cannot run: {error} (bash .ci/run installs it)",
            program.display()
        );
    }
    // Straight to standard error: the test harness would hide eprintln!'s output.
    let _ = writeln!(
        std::io::stderr(),
        "NOT RUN: {}: this test needs {what} and {} cannot run ({error}); `bash .ci/run` installs it into {venv}/",
        std::thread::current().name().unwrap_or("a test"),
        program.display()
    );
}
