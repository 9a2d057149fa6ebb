//! Standardises the same photos on ONNX Runtime and on tract (through `ort-tract`, ort's
//! pure-Rust alternative backend) and prints, as Markdown, the time per photo on each and how far
//! their outputs differ.
//!
//!     cargo run --release --manifest-path tools/backends/Cargo.toml -- PHOTO...
//!
//! ort's backend is chosen once per process, so each backend runs in a child process of this
//! program (`--backend onnxruntime|tract`), which standardises every photo once to warm up and
//! then `RUNS` times, and answers on standard output with each photo's median time, verdict,
//! checks, perceptual hash and decoded output pixels.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use photo_ledger_domain::values::Background;
use photo_ledger_photo::models::RuntimeConfig;
use photo_ledger_photo::{Standardiser, StandardiserConfig};
use serde::{Deserialize, Serialize};

const RUNS: usize = 5;
const BACKENDS: [&str; 2] = ["onnxruntime", "tract"];

#[derive(Serialize, Deserialize)]
struct Outcome {
    photo: String,
    median_ms: f64,
    verdict: String,
    /// `code=value` of every check, in order.
    checks: Vec<(String, f64, bool)>,
    perceptual_hash: Option<String>,
    /// The finished photo's RGB pixels, decoded; empty when refused.
    pixels: Vec<u8>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_backend(backend: &str, photos: &[PathBuf]) -> Vec<Outcome> {
    if backend == "tract" {
        assert!(ort::set_api(ort_tract::api()), "the backend is set once");
    }
    let onnxruntime = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".onnxruntime/libonnxruntime.so"));
    let standardiser = Standardiser::new(StandardiserConfig::new(RuntimeConfig {
        onnxruntime,
        models_dir: root().join("models"),
        intra_threads: 1,
    }))
    .expect("the models load");
    photos
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).expect("the photo reads");
            let first = standardiser
                .standardise(&bytes, Background::White)
                .expect("standardised");
            let mut times: Vec<f64> = (0..RUNS)
                .map(|_| {
                    let started = Instant::now();
                    standardiser
                        .standardise(&bytes, Background::White)
                        .expect("standardised");
                    started.elapsed().as_secs_f64() * 1000.0
                })
                .collect();
            times.sort_by(f64::total_cmp);
            let report = first.report;
            Outcome {
                photo: path.display().to_string(),
                median_ms: times[RUNS / 2],
                verdict: format!("{:?}", report.verdict),
                checks: report
                    .checks
                    .iter()
                    .map(|c| (c.code().to_string(), c.result.value, c.result.passed))
                    .collect(),
                perceptual_hash: report.perceptual_hash.map(|h| h.to_string()),
                pixels: first
                    .jpeg
                    .map(|jpeg| image::load_from_memory(&jpeg).unwrap().to_rgb8().into_raw())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

fn in_child(backend: &str, photos: &[PathBuf]) -> Vec<Outcome> {
    let output = Command::new(std::env::current_exe().unwrap())
        .arg("--backend")
        .arg(backend)
        .args(photos)
        .output()
        .expect("the measuring process runs");
    assert!(
        output.status.success(),
        "{backend}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("outcomes")
}

fn hamming(a: &str, b: &str) -> u32 {
    let a = u64::from_str_radix(a, 16).unwrap_or_default();
    let b = u64::from_str_radix(b, 16).unwrap_or_default();
    (a ^ b).count_ones()
}

fn name(path: &str) -> &str {
    Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--backend") {
        let photos: Vec<PathBuf> = args[2..].iter().map(PathBuf::from).collect();
        let outcomes = run_backend(&args[1], &photos);
        println!("{}", serde_json::to_string(&outcomes).unwrap());
        return;
    }
    let photos: Vec<PathBuf> = args.iter().map(PathBuf::from).collect();
    assert!(!photos.is_empty(), "usage: photo-ledger-backends PHOTO...");
    let [ort, tract] = BACKENDS.map(|backend| in_child(backend, &photos));

    println!("| photo | ONNX Runtime | tract | tract ÷ ORT | verdicts | checks passed alike | largest check difference | hash bits apart | pixels differing | largest pixel difference |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let (mut ort_total, mut tract_total, mut same_verdicts) = (0.0, 0.0, 0);
    for (a, b) in ort.iter().zip(&tract) {
        ort_total += a.median_ms;
        tract_total += b.median_ms;
        same_verdicts += usize::from(a.verdict == b.verdict);
        let alike = a
            .checks
            .iter()
            .zip(&b.checks)
            .filter(|(x, y)| x.0 == y.0 && x.2 == y.2)
            .count();
        let largest_check = a
            .checks
            .iter()
            .zip(&b.checks)
            .map(|(x, y)| (x.1 - y.1).abs())
            .fold(0.0, f64::max);
        let bits = match (&a.perceptual_hash, &b.perceptual_hash) {
            (Some(x), Some(y)) => hamming(x, y).to_string(),
            _ => "–".into(),
        };
        let (differing, largest) = if a.pixels.len() == b.pixels.len() && !a.pixels.is_empty() {
            let diffs = a.pixels.iter().zip(&b.pixels).map(|(x, y)| x.abs_diff(*y));
            let differing = diffs.clone().filter(|d| *d > 0).count();
            (
                format!("{:.2} %", differing as f64 * 100.0 / a.pixels.len() as f64),
                diffs.max().unwrap_or(0).to_string(),
            )
        } else {
            ("–".into(), "–".into())
        };
        println!(
            "| {} | {:.0} ms | {:.0} ms | {:.2} | {} / {} | {alike} of {} | {largest_check:.4} | {bits} | {differing} | {largest} |",
            name(&a.photo),
            a.median_ms,
            b.median_ms,
            b.median_ms / a.median_ms,
            a.verdict,
            b.verdict,
            a.checks.len().max(b.checks.len()),
        );
    }
    let n = ort.len() as f64;
    println!(
        "\n{} photos, median of {RUNS} runs each on one thread: ONNX Runtime {:.0} ms per photo on average, tract {:.0} ms ({:.2}×); the same verdict on {same_verdicts} of {}.",
        ort.len(),
        ort_total / n,
        tract_total / n,
        tract_total / ort_total,
        ort.len()
    );
}
