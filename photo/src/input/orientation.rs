//! Where a pixel of a reduced decode, turned the right way up, lies on the full-size picture
//! turned the right way up.

use image::metadata::Orientation;

use crate::raster::Affine;

/// The size of a picture stored `width × height` once turned by `orientation`.
pub fn upright_size(orientation: Orientation, (width, height): (u32, u32)) -> (u32, u32) {
    match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => (height, width),
        Orientation::NoTransforms
        | Orientation::Rotate180
        | Orientation::FlipHorizontal
        | Orientation::FlipVertical => (width, height),
    }
}

/// Upright pixel coordinates of a decode reduced by `1 / reduction` → upright coordinates of
/// the full-size picture. `stored` is the full picture's size as stored, `reduced` the reduced
/// decode's. A reduced decode has ⌈n / reduction⌉ pixels along an axis of n, so its last pixel
/// reaches past the picture's edge; along an axis the orientation reverses, that overshoot
/// comes first and is taken off.
pub fn reduced_to_full(
    orientation: Orientation,
    stored: (u32, u32),
    reduced: (u32, u32),
    reduction: u32,
) -> Affine {
    let k = reduction as f32;
    let full = [stored.0 as f32, stored.1 as f32];
    let small = [reduced.0 as f32, reduced.1 as f32];
    let offset = |(axis, reversed): (usize, bool)| {
        if reversed {
            full[axis] - small[axis] * k
        } else {
            0.0
        }
    };
    let [x, y] = stored_axes(orientation);
    Affine {
        a: k,
        b: 0.0,
        c: offset(x),
        d: 0.0,
        e: k,
        f: offset(y),
    }
}

/// For the upright picture's x and y: the stored axis each runs along (0 for x, 1 for y) and
/// whether it runs backwards.
fn stored_axes(orientation: Orientation) -> [(usize, bool); 2] {
    const X: usize = 0;
    const Y: usize = 1;
    match orientation {
        Orientation::NoTransforms => [(X, false), (Y, false)],
        Orientation::Rotate90 => [(Y, true), (X, false)],
        Orientation::Rotate180 => [(X, true), (Y, true)],
        Orientation::Rotate270 => [(Y, false), (X, true)],
        Orientation::FlipHorizontal => [(X, true), (Y, false)],
        Orientation::FlipVertical => [(X, false), (Y, true)],
        Orientation::Rotate90FlipH => [(Y, false), (X, false)],
        Orientation::Rotate270FlipH => [(Y, true), (X, true)],
    }
}

#[cfg(test)]
mod tests {
    use image::{DynamicImage, Rgb, RgbImage};

    use super::*;
    use crate::raster::Point;

    const ALL: [Orientation; 8] = [
        Orientation::NoTransforms,
        Orientation::Rotate90,
        Orientation::Rotate180,
        Orientation::Rotate270,
        Orientation::FlipHorizontal,
        Orientation::FlipVertical,
        Orientation::Rotate90FlipH,
        Orientation::Rotate270FlipH,
    ];

    /// A stored picture black but for one white block, reduced by averaging blocks of
    /// `reduction` (as a reduced decode does), both turned upright: the block must land where
    /// the map says, in every orientation, on sizes that are not multiples of the reduction.
    #[test]
    fn a_reduced_upright_pixel_maps_onto_the_same_spot_of_the_full_picture() {
        let (width, height) = (37u32, 23u32);
        let (bx, by) = (24u32, 8u32);
        for reduction in [2u32, 4, 8] {
            let block = reduction;
            let stored = RgbImage::from_fn(width, height, |x, y| {
                let inside = (bx..bx + block).contains(&x) && (by..by + block).contains(&y);
                Rgb(if inside { [255; 3] } else { [0; 3] })
            });
            let reduced_size = (width.div_ceil(reduction), height.div_ceil(reduction));
            let reduced = RgbImage::from_fn(reduced_size.0, reduced_size.1, |x, y| {
                *stored.get_pixel(
                    (x * reduction).min(width - 1),
                    (y * reduction).min(height - 1),
                )
            });
            for orientation in ALL {
                let upright = |image: &RgbImage| {
                    let mut image = DynamicImage::ImageRgb8(image.clone());
                    image.apply_orientation(orientation);
                    image.into_rgb8()
                };
                let (full, small) = (upright(&stored), upright(&reduced));
                assert_eq!(
                    (full.width(), full.height()),
                    upright_size(orientation, (width, height))
                );
                let white = |image: &RgbImage| {
                    let (x, y, _) = image
                        .enumerate_pixels()
                        .find(|(_, _, p)| p[0] == 255)
                        .unwrap();
                    (x, y)
                };
                let (sx, sy) = white(&small);
                let map = reduced_to_full(orientation, (width, height), reduced_size, reduction);
                // The reduced pixel's centre lands in the middle of the full block.
                let centre = map.apply(Point::new(sx as f32 + 0.5, sy as f32 + 0.5));
                let (fx, fy) = white(&full);
                let middle = Point::new(
                    fx as f32 + block as f32 / 2.0,
                    fy as f32 + block as f32 / 2.0,
                );
                assert!(
                    centre.distance(middle) < 0.01,
                    "{orientation:?} at 1/{reduction}: {centre:?} against {middle:?}"
                );
            }
        }
    }
}
