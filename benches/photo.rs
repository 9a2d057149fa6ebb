//! Photo standardisation on one core. Results go to BENCHMARKS.md.
//!
//!     cargo bench --bench photo --no-run && taskset -c 0 cargo bench --bench photo
//!
//! Inputs are made from the astronaut fixture: scaled up (Lanczos) to fill the width of a
//! 3:4 portrait of 12 MP (3000×4000) or 2 MP (1200×1600), on a plain wall above and below, with
//! a little deterministic noise so the JPEG (quality 90) carries a phone photo's amount of
//! detail. For each size: the median of 15 runs of the whole standardisation next to the median
//! of 15 runs of only decoding the same file (same decoder, limits and orientation handling),
//! and the median time of each stage. Then the peak memory (max RSS) of the release CLI
//! standardising the 12 MP file, read with GNU time.

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::{imageops, Rgb, RgbImage};
use photo_ledger_domain::values::Background;
use photo_ledger_photo::models::RuntimeConfig;
use photo_ledger_photo::spec::InputLimits;
use photo_ledger_photo::{input, Standardiser, StandardiserConfig};

const RUNS: usize = 15;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn onnxruntime() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".onnxruntime/libonnxruntime.so"))
}

fn portrait(width: u32, height: u32) -> Vec<u8> {
    let astronaut = image::open(root().join("fixtures/astronaut.png"))
        .expect("fixture")
        .into_rgb8();
    let scaled = imageops::resize(&astronaut, width, width, imageops::FilterType::Lanczos3);
    let mut canvas = RgbImage::from_pixel(width, height, Rgb([214, 208, 198]));
    imageops::replace(&mut canvas, &scaled, 0, i64::from((height - width) / 2));
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for p in canvas.pixels_mut() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed % 9) as i16 - 4;
        for c in p.0.iter_mut() {
            *c = (i16::from(*c) + noise).clamp(0, 255) as u8;
        }
    }
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
        .encode_image(&canvas)
        .expect("encodes");
    bytes
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time_ms(f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    started.elapsed().as_secs_f64() * 1000.0
}

fn main() {
    let standardiser = Standardiser::new(StandardiserConfig::new(RuntimeConfig {
        onnxruntime: onnxruntime(),
        models_dir: root().join("models"),
        intra_threads: 1,
    }))
    .unwrap_or_else(|e| panic!("{e} (run `bash tools/onnxruntime/fetch.sh`)"));
    let dir = std::env::temp_dir().join("photo-ledger-bench");
    std::fs::create_dir_all(&dir).expect("temp dir");

    println!("| input | file | decode only (median ms) | standardise (median ms) | ratio |");
    println!("|---|---|---|---|---|");
    let mut stage_lines = Vec::new();
    for (label, w, h) in [("12 MP", 3000, 4000), ("2 MP", 1200, 1600)] {
        let bytes = portrait(w, h);
        std::fs::write(dir.join(format!("{w}x{h}.jpg")), &bytes).expect("written");
        let limits = InputLimits::default();
        let decode: Vec<f64> = (0..RUNS)
            .map(|_| {
                time_ms(|| {
                    input::decode(&bytes, &limits).expect("decodes");
                })
            })
            .collect();
        let mut stages: Vec<(&'static str, Vec<f64>)> = Vec::new();
        let total: Vec<f64> = (0..RUNS)
            .map(|_| {
                let mut report = None;
                let ms = time_ms(|| {
                    let out = standardiser
                        .standardise(&bytes, Background::Blue)
                        .expect("standardises");
                    report = Some(out.report);
                });
                let report = report.expect("report");
                assert!(report.output.is_some(), "{:?}", report.verdict);
                for t in report.timings_ms {
                    match stages.iter_mut().find(|(s, _)| *s == t.stage) {
                        Some((_, v)) => v.push(t.ms),
                        None => stages.push((t.stage, vec![t.ms])),
                    }
                }
                ms
            })
            .collect();
        let (d, t) = (median(decode), median(total));
        println!(
            "| {label} ({w}×{h}) | {} KB | {d:.1} | {t:.1} | {:.2} |",
            bytes.len() / 1024,
            t / d
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
    peak_memory(&dir.join("3000x4000.jpg"), &dir);
}

/// Max RSS of the release CLI on one photo, from GNU time's `%M` (KiB).
fn peak_memory(photo: &Path, dir: &Path) {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        println!("\npeak memory: not measured (/usr/bin/time is missing: apt-get install time)");
        return;
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
    let kib: Option<u64> = stderr.lines().last().and_then(|l| l.trim().parse().ok());
    match kib {
        Some(kib) => println!(
            "\npeak memory of `photo-ledger standardise` on 12 MP: {} MiB",
            kib / 1024
        ),
        None => println!("\npeak memory: could not read GNU time's output: {stderr}"),
    }
}
