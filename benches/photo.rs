//! Photo standardisation on one core. Results go to BENCHMARKS.md.
//!
//!     cargo bench --bench photo --no-run && taskset -c 0 cargo bench --bench photo
//!
//! Inputs are phone photos made from the astronaut fixture ([`support::phone_photo`]), 12 MP
//! (3000×4000) and 2 MP (1200×1600), each with its colour stored for every pixel (4:4:4, the photo
//! these benchmarks began with) and for every 2×2 pixels (4:2:0, as phone cameras store it, which
//! makes a whole decode cheaper). For each photo, medians of 15 rounds in this process, each round
//! timing in turn libjpeg-turbo decoding the whole file (the floor), the `image` crate's decoder
//! doing the same (the decoder used before reduced decoding), the whole standardisation decoding
//! every pixel (before) and decoding only what it needs (now); and the median time of each stage.
//! Interleaved so, the floor and the standardisation it is compared with are timed in the same
//! seconds, and a machine that slows down for a while slows both. Then the peak memory (max RSS) of
//! the release CLI standardising the 12 MP file and a small one (the difference is what one photo
//! in flight costs), read with GNU time.

use std::path::Path;
use std::time::Instant;

use photo_ledger_domain::values::Background;
use photo_ledger_photo::models::RuntimeConfig;
use photo_ledger_photo::report::StageTime;
use photo_ledger_photo::{Decoding, Standardiser, StandardiserConfig};

mod support;

use support::phone_photo::{phone_jpeg, Chroma};
use support::service::{onnxruntime, root};

const RUNS: usize = 15;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time_ms(f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    started.elapsed().as_secs_f64() * 1000.0
}

fn standardiser(decoding: Decoding) -> Standardiser {
    let config = StandardiserConfig {
        decoding,
        ..StandardiserConfig::new(RuntimeConfig {
            onnxruntime: onnxruntime(),
            models_dir: root().join("models"),
            intra_threads: 1,
        })
    };
    Standardiser::new(config)
        .unwrap_or_else(|e| panic!("{e} (run `bash tools/onnxruntime/fetch.sh`)"))
}

/// One standardisation's time, and its stages' times.
fn standardise(standardiser: &Standardiser, bytes: &[u8]) -> (f64, Vec<StageTime>) {
    let mut report = None;
    let ms = time_ms(|| {
        let out = standardiser
            .standardise(bytes, Background::Blue)
            .expect("standardises");
        report = Some(out.report);
    });
    let report = report.expect("report");
    assert!(report.output.is_some(), "{:?}", report.verdict);
    (ms, report.timings_ms)
}

fn main() {
    let as_needed = standardiser(Decoding::AsNeeded);
    let full_size = standardiser(Decoding::FullSize);
    let dir = std::env::temp_dir().join("photo-ledger-bench");
    std::fs::create_dir_all(&dir).expect("temp dir");

    println!(
        "| input | file | libjpeg-turbo full decode (floor) | `image` full decode | \
         standardise, full-size decode | standardise, reduced decode | ratio to the floor |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut stage_lines = Vec::new();
    for (label, w, h, chroma) in [
        ("12 MP", 3000, 4000, Chroma::Full),
        ("12 MP, 4:2:0", 3000, 4000, Chroma::Halved),
        ("2 MP", 1200, 1600, Chroma::Full),
        ("2 MP, 4:2:0", 1200, 1600, Chroma::Halved),
    ] {
        let bytes = phone_jpeg(w, h, chroma);
        std::fs::write(dir.join(format!("{w}x{h}-{chroma:?}.jpg")), &bytes).expect("written");
        let (mut floor, mut image_crate, mut before, mut now) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut stages: Vec<(&'static str, Vec<f64>)> = Vec::new();
        for _ in 0..RUNS {
            floor.push(time_ms(|| {
                turbojpeg::decompress(&bytes, turbojpeg::PixelFormat::RGB).expect("decodes");
            }));
            image_crate.push(time_ms(|| {
                std::hint::black_box(
                    image::load_from_memory(&bytes)
                        .expect("decodes")
                        .into_rgb8(),
                );
            }));
            before.push(standardise(&full_size, &bytes).0);
            let (ms, timings) = standardise(&as_needed, &bytes);
            now.push(ms);
            for t in timings {
                match stages.iter_mut().find(|(s, _)| *s == t.stage) {
                    Some((_, v)) => v.push(t.ms),
                    None => stages.push((t.stage, vec![t.ms])),
                }
            }
        }
        let [floor, image_crate, before, now] = [floor, image_crate, before, now].map(median);
        println!(
            "| {label} ({w}×{h}) | {} KB | {floor:.1} | {image_crate:.1} | {before:.1} | {now:.1} | {:.2} |",
            bytes.len() / 1024,
            now / floor
        );
        let per_stage: Vec<String> = stages
            .into_iter()
            .map(|(s, v)| format!("{s} {:.1}", median(v)))
            .collect();
        stage_lines.push(format!("{label}: {}", per_stage.join(", ")));
    }
    println!();
    for line in stage_lines {
        println!("stages (median ms) {line}");
    }
    let small = dir.join("small.jpg");
    std::fs::write(&small, phone_jpeg(480, 640, Chroma::Full)).expect("written");
    let (Some(large), Some(small)) = (
        peak_memory_kib(&dir.join("3000x4000-Full.jpg"), &dir),
        peak_memory_kib(&small, &dir),
    ) else {
        return;
    };
    println!(
        "\npeak memory of `photo-ledger standardise`: {} MiB on the 12 MP photo, {} MiB on a \
         480×640 one: {} MiB for the 12 MP photo itself",
        large / 1024,
        small / 1024,
        large.saturating_sub(small) / 1024
    );
}

/// Max RSS of the release CLI on one photo, from GNU time's `%M` (KiB).
fn peak_memory_kib(photo: &Path, dir: &Path) -> Option<u64> {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        println!("\npeak memory: not measured (/usr/bin/time is missing: apt-get install time)");
        return None;
    }
    let out = std::process::Command::new(time)
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_photo-ledger"))
        .arg("standardise")
        .arg(photo)
        .arg(dir.join("standard.jpg"))
        .env("PHOTO_LEDGER__PHOTOS__ONNXRUNTIME", onnxruntime())
        .env("PHOTO_LEDGER__PHOTOS__MODELS_DIR", root().join("models"))
        .output()
        .expect("the CLI runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kib = stderr.lines().last().and_then(|l| l.trim().parse().ok());
    if kib.is_none() {
        println!("\npeak memory: could not read GNU time's output: {stderr}");
    }
    kib
}
