//! Lets the service standardise photos on a fresh machine with no step of its own: ONNX Runtime,
//! the shared library the photo models run on (loaded at run time, never linked), is fetched at
//! build time from its official wheel on PyPI and checked against pinned SHA-256 sums, by the
//! same `tools/onnxruntime/fetch.sh` a person would run, into this build's `OUT_DIR`. Its path
//! is compiled in (`PHOTO_LEDGER_BUILT_ONNXRUNTIME`) as where `serve` and `standardise` look
//! when `photos.onnxruntime` is set nowhere.
//!
//! A checkout that already holds it in `.onnxruntime/` (where `.ci/run` and the tests keep it)
//! uses that copy and downloads nothing. Offline, or with `PHOTO_LEDGER_NO_FETCH=1`, the build
//! goes on with a warning and the service runs without photos until `photos.onnxruntime` names
//! a copy; the next build tries again.

use std::path::{Path, PathBuf};
use std::process::Command;

const LIBRARY: &str = "libonnxruntime.so";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=tools/onnxruntime/fetch.sh");
    println!("cargo:rerun-if-env-changed=PHOTO_LEDGER_NO_FETCH");
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("onnxruntime");
    let found = [root.join(".onnxruntime").join(LIBRARY), out.join(LIBRARY)]
        .into_iter()
        .find(|path| path.exists());
    let library = match found {
        Some(library) => Some(library),
        None if std::env::var_os("PHOTO_LEDGER_NO_FETCH").is_some() => None,
        None => fetch(&root, &out),
    };
    match library {
        Some(library) => {
            println!(
                "cargo:rustc-env=PHOTO_LEDGER_BUILT_ONNXRUNTIME={}",
                library.display()
            );
        }
        None => {
            println!("cargo:rustc-env=PHOTO_LEDGER_BUILT_ONNXRUNTIME=");
            // Not there yet: look again on the next build.
            println!("cargo:rerun-if-changed={}", out.join(LIBRARY).display());
        }
    }
}

/// Runs `fetch.sh` into `out`; the library, or `None` with a warning.
fn fetch(root: &Path, out: &Path) -> Option<PathBuf> {
    let fetched = Command::new("bash")
        .arg(root.join("tools/onnxruntime/fetch.sh"))
        .arg(out)
        .output();
    match fetched {
        Ok(output) if output.status.success() => Some(out.join(LIBRARY)),
        Ok(output) => {
            let said = String::from_utf8_lossy(&output.stderr);
            warn(said.lines().last().unwrap_or("it failed"));
            None
        }
        Err(e) => {
            warn(&e.to_string());
            None
        }
    }
}

fn warn(why: &str) {
    println!(
        "cargo:warning=ONNX Runtime was not fetched ({why}); photo uploads answer 503 until \
         photos.onnxruntime names it (bash tools/onnxruntime/fetch.sh puts it in .onnxruntime/)"
    );
}
