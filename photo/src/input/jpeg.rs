//! JPEG decoding through libjpeg-turbo (the `turbojpeg` crate, which builds the library from the
//! source it bundles), optionally reduced to 1/2, 1/4 or 1/8 in the DCT domain: a reduced decode
//! skips most of the inverse DCT, upsampling and colour conversion of a full one.

use image::RgbImage;
use turbojpeg::{Colorspace, Decompressor, Image, PixelFormat, ScalingFactor};

/// The picture reduced by `1 / reduction` (1, 2, 4 or 8) as RGB, or `None` when libjpeg-turbo
/// cannot give it: CMYK and lossless JPEGs, 12-bit samples, and any file it reports a problem
/// with, even one it could read past. The caller then decodes the file whole with the `image`
/// crate's decoder, which refuses what is really broken.
pub(super) fn decode(bytes: &[u8], reduction: u32) -> Option<RgbImage> {
    let mut decompressor = Decompressor::new().ok()?;
    let header = decompressor.read_header(bytes).ok()?;
    if header.is_lossless || matches!(header.colorspace, Colorspace::CMYK | Colorspace::YCCK) {
        return None;
    }
    let scaling = ScalingFactor::new(1, reduction as usize);
    decompressor.set_scaling_factor(scaling).ok()?;
    let size = header.scaled(scaling);
    let (width, height) = (size.width, size.height);
    let mut pixels = vec![0; 3 * width * height];
    let image = Image {
        pixels: pixels.as_mut_slice(),
        width,
        pitch: 3 * width,
        height,
        format: PixelFormat::RGB,
    };
    decompressor.decompress(bytes, image).ok()?;
    RgbImage::from_raw(width.try_into().ok()?, height.try_into().ok()?, pixels)
}
