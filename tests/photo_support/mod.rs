//! What the photo tests share: one standardiser per test process, the astronaut fixture and the
//! variants derived from it, and an independent re-measurement of finished photos.

use std::path::PathBuf;
use std::sync::OnceLock;

use image::{Rgb, RgbImage};
use photo_ledger_photo::models::RuntimeConfig;
use photo_ledger_photo::raster::{self, Affine, Point};
use photo_ledger_photo::{detect, landmarks, Decoding, Standardiser, StandardiserConfig};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// ONNX Runtime from `ORT_DYLIB_PATH`, else `.onnxruntime/` in the workspace.
pub fn onnxruntime() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".onnxruntime/libonnxruntime.so"))
}

/// One standardiser for the test process. Without ONNX Runtime the photo tests fail: they
/// never skip.
pub fn standardiser() -> &'static Standardiser {
    static STANDARDISER: OnceLock<Standardiser> = OnceLock::new();
    STANDARDISER.get_or_init(|| load(Decoding::AsNeeded))
}

/// One that decodes every pixel of a JPEG, to compare the reduced decodes with.
pub fn full_size_standardiser() -> &'static Standardiser {
    static STANDARDISER: OnceLock<Standardiser> = OnceLock::new();
    STANDARDISER.get_or_init(|| load(Decoding::FullSize))
}

fn load(decoding: Decoding) -> Standardiser {
    let onnxruntime = onnxruntime();
    assert!(
        onnxruntime.is_file(),
        "ONNX Runtime not found at {}: run `bash tools/onnxruntime/fetch.sh` in the workspace \
         (or set ORT_DYLIB_PATH)",
        onnxruntime.display()
    );
    let config = StandardiserConfig {
        decoding,
        ..StandardiserConfig::new(RuntimeConfig {
            onnxruntime,
            models_dir: root().join("models"),
            intra_threads: 1,
        })
    };
    Standardiser::new(config).unwrap_or_else(|e| panic!("loading the models: {e}"))
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = root().join("fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn astronaut() -> RgbImage {
    image::load_from_memory(&fixture("astronaut.png"))
        .expect("the astronaut fixture decodes")
        .into_rgb8()
}

pub fn png(image: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("PNG encodes");
    bytes
}

pub fn jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(image)
        .expect("JPEG encodes");
    bytes
}

/// Turned `degrees` anticlockwise about the centre, the corners filled from the edges.
pub fn rotated(image: &RgbImage, degrees: f32) -> RgbImage {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let centre = Point::new(w / 2.0, h / 2.0);
    // Output pixel → source pixel: turn the offset from the centre back.
    let angle = -degrees.to_radians();
    let turn = Affine::frame(centre, angle, 1.0);
    let shift = Affine::frame(Point::new(-w / 2.0, -h / 2.0), 0.0, 1.0);
    raster::warp(image, &turn.after(&shift), image.width(), image.height())
}

pub fn map_pixels(image: &RgbImage, f: impl Fn(u32, u32, [f32; 3]) -> [f32; 3]) -> RgbImage {
    RgbImage::from_fn(image.width(), image.height(), |x, y| {
        let p = image.get_pixel(x, y);
        let v = f(x, y, [p[0], p[1], p[2]].map(f32::from));
        Rgb(v.map(|c| c.round().clamp(0.0, 255.0) as u8))
    })
}

/// A finished photo measured again, independently of its report: the face models on the
/// decoded file for eyes and face width, the colours for the head top.
#[derive(Debug)]
pub struct Remeasured {
    pub width: u32,
    pub height: u32,
    pub eye_line: f32,
    pub face_width: f32,
    pub eye_tilt_deg: f32,
    pub face_centre_x: f32,
    /// First row from the top, above the face, that is not background.
    pub head_top: u32,
    pub image: RgbImage,
}

pub fn remeasure(jpeg: &[u8], background: Rgb<u8>) -> Remeasured {
    let image = image::load_from_memory(jpeg)
        .expect("output decodes")
        .into_rgb8();
    let models = standardiser().models();
    let faces = detect::detect(models, &image).expect("detection runs");
    assert_eq!(faces.len(), 1, "exactly one face in the output");
    let mesh = landmarks::landmarks(models, &image, &faces[0]).expect("mesh runs");
    let centre = mesh.face_centre();
    let quarter = mesh.face_width() / 4.0;
    let bg = background.0.map(f32::from);
    let head_top = (0..image.height())
        .find(|&y| {
            ((centre.x - quarter) as u32..(centre.x + quarter) as u32).any(|x| {
                let p = image.get_pixel(x, y).0.map(f32::from);
                raster::rgb_distance(p, bg) > 40.0
            })
        })
        .unwrap_or(image.height());
    Remeasured {
        width: image.width(),
        height: image.height(),
        eye_line: mesh.eye_centre().y,
        face_width: mesh.face_width(),
        eye_tilt_deg: mesh.eye_angle().to_degrees(),
        face_centre_x: centre.x,
        head_top,
        image,
    }
}

/// `(units, x density, y density)` from the JFIF APP0 segment.
pub fn jfif_density(jpeg: &[u8]) -> (u8, u16, u16) {
    assert_eq!(
        &jpeg[0..4],
        &[0xFF, 0xD8, 0xFF, 0xE0],
        "starts with SOI then APP0"
    );
    assert_eq!(&jpeg[6..11], b"JFIF\0");
    let be = |i: usize| u16::from_be_bytes([jpeg[i], jpeg[i + 1]]);
    (jpeg[13], be(14), be(16))
}

/// The start-of-frame markers in a JPEG (0xC0 baseline, 0xC2 progressive, …).
pub fn frame_markers(jpeg: &[u8]) -> Vec<u8> {
    let mut markers = Vec::new();
    let mut i = 2;
    while i + 4 <= jpeg.len() && jpeg[i] == 0xFF {
        let marker = jpeg[i + 1];
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            markers.push(marker);
        }
        if marker == 0xDA {
            break;
        }
        i += 2 + usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
    }
    markers
}

/// A PNG with nothing but a header claiming `width × height` and an empty image data chunk.
pub fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB, deflate, adaptive filters, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend((data.len() as u32).to_be_bytes());
    let start = png.len();
    png.extend(kind);
    png.extend(data);
    let crc = crc32(&png[start..]);
    png.extend(crc.to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
