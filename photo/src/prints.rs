//! Paper prints from the 480×640 master, and the 6寸 sheets they are printed on.
//!
//! One fixed rule makes every print: keep the master's full height and cut equal strips from
//! both sides down to the print's aspect ratio, then resize. Every reprint of a student is thus
//! the same picture as the electronic photo and as every other reprint.
//!
//! A 6寸 sheet is 4 × 6 in, 1200 × 1800 px at 300 dpi, portrait. The layouts are the trade's
//! landscape ones turned a quarter: 版式一 puts four 2寸 (lying) in one column beside eight 1寸
//! (upright) in two columns; 版式二 puts eight 2寸 (lying) in two columns. Thin grey cut lines
//! run through the gaps between photos and around the block. (The sheet as a PDF page is
//! `photo_ledger::printing::document::sheet_pdf`, with every other PDF print staff use.)

use image::imageops;
use image::{Rgb, RgbImage};
use jpeg_encoder::SamplingFactor;
use photo_ledger_domain::values::PrintLayout;

use super::encode;
use super::error::PhotoError;
use super::raster;

pub const SHEET_WIDTH: u32 = 1200;
pub const SHEET_HEIGHT: u32 = 1800;
pub const DPI: u16 = 300;
/// Between neighbouring photos; the cut line runs in its middle.
pub const GAP: u32 = 4;
pub const CUT_LINE: Rgb<u8> = Rgb([160, 160, 160]);
const CUT_LINE_WIDTH: u32 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrintSize {
    /// 1寸: 25 × 35 mm.
    One,
    /// 2寸: 35 × 49 mm (the one that fits 版式一 on a 6寸 sheet).
    Two,
}

impl PrintSize {
    /// Upright pixels at 300 dpi.
    pub fn pixels(self) -> (u32, u32) {
        match self {
            PrintSize::One => (295, 413),
            PrintSize::Two => (413, 579),
        }
    }
}

/// The print made from `master` by the fixed rule.
pub fn print(master: &RgbImage, size: PrintSize) -> RgbImage {
    let (w, h) = size.pixels();
    let (mw, mh) = (f64::from(master.width()), f64::from(master.height()));
    let crop_w = (mh * f64::from(w) / f64::from(h)).min(mw);
    raster::resize(master, [(mw - crop_w) / 2.0, 0.0, crop_w, mh], w, h)
}

/// Where one print sits on the sheet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub size: PrintSize,
    pub x: u32,
    pub y: u32,
    /// Lying: turned a quarter clockwise.
    pub lying: bool,
}

impl Placement {
    /// Width and height on the sheet.
    pub fn extent(&self) -> (u32, u32) {
        let (w, h) = self.size.pixels();
        if self.lying {
            (h, w)
        } else {
            (w, h)
        }
    }
}

pub fn layout(layout: PrintLayout) -> Vec<Placement> {
    // Columns of (print, lying), each holding four photos one above the other.
    let columns: &[(PrintSize, bool)] = match layout {
        PrintLayout::One => &[
            (PrintSize::Two, true),
            (PrintSize::One, false),
            (PrintSize::One, false),
        ],
        PrintLayout::Two => &[(PrintSize::Two, true), (PrintSize::Two, true)],
    };
    let extent = |&(size, lying): &(PrintSize, bool)| {
        Placement {
            size,
            x: 0,
            y: 0,
            lying,
        }
        .extent()
    };
    let block_w: u32 =
        columns.iter().map(|c| extent(c).0).sum::<u32>() + GAP * (columns.len() as u32 - 1);
    // Every column's photos are 413 px high, so the rows line up across columns.
    let row_h = extent(&columns[0]).1;
    let block_h = 4 * row_h + 3 * GAP;
    let (x0, y0) = ((SHEET_WIDTH - block_w) / 2, (SHEET_HEIGHT - block_h) / 2);
    let mut placements = Vec::new();
    let mut x = x0;
    for column in columns {
        let (w, _) = extent(column);
        for row in 0..4 {
            placements.push(Placement {
                size: column.0,
                x,
                y: y0 + row * (row_h + GAP),
                lying: column.1,
            });
        }
        x += w + GAP;
    }
    placements
}

/// The sheet, white, with the prints and their cut lines.
pub fn sheet(master: &RgbImage, which: PrintLayout) -> RgbImage {
    let mut sheet = RgbImage::from_pixel(SHEET_WIDTH, SHEET_HEIGHT, Rgb([255, 255, 255]));
    let placements = layout(which);
    let one = print(master, PrintSize::One);
    let two = print(master, PrintSize::Two);
    for p in &placements {
        let upright = match p.size {
            PrintSize::One => &one,
            PrintSize::Two => &two,
        };
        if p.lying {
            imageops::replace(
                &mut sheet,
                &imageops::rotate90(upright),
                p.x.into(),
                p.y.into(),
            );
        } else {
            imageops::replace(&mut sheet, upright, p.x.into(), p.y.into());
        }
    }
    draw_cut_lines(&mut sheet, &placements);
    sheet
}

/// Lines through the middle of every gap and just outside the block, across the whole sheet
/// so they can be lined up with a trimmer.
fn draw_cut_lines(sheet: &mut RgbImage, placements: &[Placement]) {
    let mut xs: Vec<u32> = Vec::new();
    let mut ys: Vec<u32> = Vec::new();
    for p in placements {
        let (w, h) = p.extent();
        xs.extend([p.x.saturating_sub(GAP / 2 + 1), p.x + w + GAP / 2 - 1]);
        ys.extend([p.y.saturating_sub(GAP / 2 + 1), p.y + h + GAP / 2 - 1]);
    }
    for lines in [&mut xs, &mut ys] {
        lines.sort_unstable();
        lines.dedup();
    }
    let covered = |x: u32, y: u32| {
        placements.iter().any(|p| {
            let (w, h) = p.extent();
            x >= p.x && x < p.x + w && y >= p.y && y < p.y + h
        })
    };
    for &x in &xs {
        for y in 0..SHEET_HEIGHT {
            for dx in 0..CUT_LINE_WIDTH {
                if x + dx < SHEET_WIDTH && !covered(x + dx, y) {
                    sheet.put_pixel(x + dx, y, CUT_LINE);
                }
            }
        }
    }
    for &y in &ys {
        for x in 0..SHEET_WIDTH {
            for dy in 0..CUT_LINE_WIDTH {
                if y + dy < SHEET_HEIGHT && !covered(x, y + dy) {
                    sheet.put_pixel(x, y + dy, CUT_LINE);
                }
            }
        }
    }
}

/// The sheet as a 300 dpi JPEG, at print quality.
pub fn sheet_jpeg(sheet: &RgbImage) -> Result<Vec<u8>, PhotoError> {
    encode::jpeg(sheet, 95, DPI, SamplingFactor::F_1_1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_fit_the_sheet_without_overlap() {
        for (which, count) in [(PrintLayout::One, 12), (PrintLayout::Two, 8)] {
            let placements = layout(which);
            assert_eq!(placements.len(), count);
            for (i, a) in placements.iter().enumerate() {
                let (w, h) = a.extent();
                assert!(a.x + w <= SHEET_WIDTH && a.y + h <= SHEET_HEIGHT, "{a:?}");
                for b in &placements[i + 1..] {
                    let (bw, bh) = b.extent();
                    let apart = a.x + w + GAP <= b.x
                        || b.x + bw + GAP <= a.x
                        || a.y + h + GAP <= b.y
                        || b.y + bh + GAP <= a.y;
                    assert!(apart, "{a:?} {b:?}");
                }
            }
        }
    }

    #[test]
    fn prints_keep_the_full_height_and_cut_the_sides_equally() {
        // A master whose left and right 12 columns are red: the rule cuts them away.
        let master = RgbImage::from_fn(480, 640, |x, _| {
            if !(12..468).contains(&x) {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let one = print(&master, PrintSize::One);
        assert_eq!(one.dimensions(), (295, 413));
        assert!(one.get_pixel(1, 200)[0] < 60, "{:?}", one.get_pixel(1, 200));
        assert_eq!(print(&master, PrintSize::Two).dimensions(), (413, 579));
    }
}
