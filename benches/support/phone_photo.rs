//! A phone photo the benchmarks can make on any machine: the astronaut fixture scaled up
//! (Lanczos) to fill the width of a 3:4 portrait, on a plain wall above and below, with a little
//! deterministic noise so the JPEG (quality 90) carries a phone photo's amount of detail.

use image::{imageops, Rgb, RgbImage};
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

use super::service::root;

/// How the JPEG stores colour.
#[derive(Clone, Copy, Debug)]
pub enum Chroma {
    /// For every pixel (4:4:4), as the `image` crate's encoder writes it: the benchmarks' photo
    /// since they began.
    Full,
    /// For every 2×2 pixels (4:2:0), as phone cameras write it.
    Halved,
}

/// A `width`×`height` portrait JPEG (3000×4000 for a 12 MP phone, 1200×1600 for 2 MP).
pub fn phone_jpeg(width: u32, height: u32, chroma: Chroma) -> Vec<u8> {
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
    match chroma {
        Chroma::Full => image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
            .encode_image(&canvas)
            .expect("encodes"),
        Chroma::Halved => {
            let mut encoder = Encoder::new(&mut bytes, 90);
            encoder.set_sampling_factor(SamplingFactor::F_2_2);
            let side = |n: u32| u16::try_from(n).expect("a JPEG side fits in 16 bits");
            encoder
                .encode(canvas.as_raw(), side(width), side(height), ColorType::Rgb)
                .expect("encodes");
        }
    }
    bytes
}
