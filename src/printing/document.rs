//! The PDFs print staff print: one print sheet; a run's 6寸 sheets, each labelled in its margin, followed by the
//! run's packing list; and address labels, one 100 × 150 mm page per order with the order number
//! as a QR code.
//!
//! Text is set in `STSong-Light`, one of the Chinese fonts every PDF reader provides without it
//! being embedded (Adobe-GB1, written as UTF-16), so a document stays a few kilobytes of text
//! plus the sheets' JPEGs, and a binary that carries no 10 MB font file.

use pdf_writer::types::{CidFontType, FontFlags};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};
use photo_ledger_photo::prints::{SHEET_HEIGHT, SHEET_WIDTH};
use qrcode::{Color, EcLevel, QrCode};

/// Points per inch; PDF's unit.
const PT_PER_INCH: f32 = 72.0;
/// A 6寸 sheet: 4 × 6 in.
pub const SHEET_PAGE: (f32, f32) = (4.0 * PT_PER_INCH, 6.0 * PT_PER_INCH);
/// A courier's label: 100 × 150 mm.
pub const LABEL_PAGE: (f32, f32) = (100.0 / 25.4 * PT_PER_INCH, 150.0 / 25.4 * PT_PER_INCH);

const FONT: Name = Name(b"F1");
const IMAGE: Name = Name(b"Im");

/// Widths (per 1000 em) of the proportional Latin glyphs CIDs 1–95 (U+0020–U+007E) of
/// Adobe-GB1 in STSong-Light; every other glyph is a full em.
const LATIN_WIDTHS: [f32; 95] = [
    207., 270., 342., 467., 462., 797., 710., 239., 374., 374., 423., 605., 238., 375., 238., 334.,
    462., 462., 462., 462., 462., 462., 462., 462., 462., 462., 238., 238., 605., 605., 605., 344.,
    748., 684., 560., 695., 739., 563., 511., 729., 793., 318., 312., 666., 526., 896., 758., 772.,
    544., 772., 628., 465., 607., 753., 711., 972., 647., 620., 607., 374., 333., 374., 606., 500.,
    239., 417., 503., 427., 529., 415., 264., 444., 518., 241., 230., 495., 228., 793., 527., 524.,
    524., 504., 338., 336., 277., 517., 450., 652., 466., 452., 407., 370., 258., 370., 605.,
];

/// The width of one character at `size` points.
fn char_width(c: char, size: f32) -> f32 {
    let per_mille = match c {
        ' '..='~' => LATIN_WIDTHS[c as usize - 0x20],
        _ => 1000.0,
    };
    per_mille * size / 1000.0
}

/// The width of `text` at `size` points.
pub fn text_width(text: &str, size: f32) -> f32 {
    text.chars().map(|c| char_width(c, size)).sum()
}

/// `text` broken into lines no wider than `width` at `size`: between words where it has spaces,
/// anywhere in Chinese.
pub fn wrap(text: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let (mut line, mut line_width) = (String::new(), 0.0);
    for c in text.chars() {
        let w = char_width(c, size);
        if line_width + w > width && !line.is_empty() {
            lines.push(line.trim_end().to_string());
            (line, line_width) = if c == ' ' {
                (String::new(), 0.0)
            } else {
                (c.to_string(), w)
            };
        } else {
            line.push(c);
            line_width += w;
        }
    }
    if !line.trim().is_empty() {
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// One line of text on a page: its baseline's left end, its size.
pub struct Text<'a> {
    pub x: f32,
    pub y: f32,
    pub size: f32,
    pub text: &'a str,
}

/// A PDF being written: pages in order, the one font shared by all.
pub struct Document {
    pdf: Pdf,
    next: i32,
    pages_ref: Ref,
    font: Ref,
    pages: Vec<Ref>,
}

impl Default for Document {
    fn default() -> Self {
        Self::new()
    }
}

impl Document {
    pub fn new() -> Self {
        let mut document = Self {
            pdf: Pdf::new(),
            next: 1,
            pages_ref: Ref::new(1),
            font: Ref::new(1),
            pages: Vec::new(),
        };
        document.pages_ref = document.reference();
        document.font = document.reference();
        document.write_font();
        document
    }

    fn reference(&mut self) -> Ref {
        let r = Ref::new(self.next);
        self.next += 1;
        r
    }

    fn write_font(&mut self) {
        let (cid_font, descriptor) = (self.reference(), self.reference());
        let name = Name(b"STSong-Light");
        self.pdf
            .type0_font(self.font)
            .base_font(name)
            .encoding_predefined(Name(b"UniGB-UTF16-H"))
            .descendant_font(cid_font);
        let mut cid = self.pdf.cid_font(cid_font);
        cid.subtype(CidFontType::Type0)
            .base_font(name)
            .system_info(pdf_writer::types::SystemInfo {
                registry: Str(b"Adobe"),
                ordering: Str(b"GB1"),
                supplement: 4,
            })
            .font_descriptor(descriptor)
            .default_width(1000.0);
        cid.widths().consecutive(1, LATIN_WIDTHS);
        cid.finish();
        self.pdf
            .font_descriptor(descriptor)
            .name(name)
            .flags(FontFlags::SERIF | FontFlags::NON_SYMBOLIC)
            .bbox(Rect::new(-25.0, -254.0, 1000.0, 880.0))
            .italic_angle(0.0)
            .ascent(880.0)
            .descent(-120.0)
            .cap_height(737.0)
            .stem_v(58.0);
    }

    /// A JPEG, once, for any number of pages to show.
    pub fn image(&mut self, jpeg: &[u8], width: u32, height: u32) -> Ref {
        let image = self.reference();
        let mut xobject = self.pdf.image_xobject(image, jpeg);
        xobject.filter(Filter::DctDecode);
        xobject.width(width as i32);
        xobject.height(height as i32);
        xobject.color_space().device_rgb();
        xobject.bits_per_component(8);
        xobject.finish();
        image
    }

    /// A page of `size` showing `image` over the whole page (if any), then `texts`, then
    /// `draw` (graphics such as a QR code) on top.
    pub fn page(&mut self, size: (f32, f32), image: Option<Ref>, texts: &[Text], draw: Content) {
        let (page, content) = (self.reference(), self.reference());
        let mut out = Content::new();
        if image.is_some() {
            out.save_state();
            out.transform([size.0, 0.0, 0.0, size.1, 0.0, 0.0]);
            out.x_object(IMAGE);
            out.restore_state();
        }
        for text in texts {
            out.begin_text();
            out.set_font(FONT, text.size);
            out.next_line(text.x, text.y);
            out.show(Str(&utf16be(text.text)));
            out.end_text();
        }
        let mut bytes = out.finish().into_vec();
        bytes.push(b'\n');
        bytes.extend_from_slice(&draw.finish().into_vec());
        let mut p = self.pdf.page(page);
        p.media_box(Rect::new(0.0, 0.0, size.0, size.1));
        p.parent(self.pages_ref);
        p.contents(content);
        let mut resources = p.resources();
        resources.fonts().pair(FONT, self.font);
        if let Some(image) = image {
            resources.x_objects().pair(IMAGE, image);
        }
        resources.finish();
        p.finish();
        self.pdf.stream(content, &bytes);
        self.pages.push(page);
    }

    /// Pages of `size` filled with `lines` (text and size) from the top, `margin` all round,
    /// starting new pages as they fill.
    pub fn flow(&mut self, size: (f32, f32), margin: f32, lines: &[(String, f32)]) {
        let mut page: Vec<Text> = Vec::new();
        let mut y = size.1 - margin;
        for (text, line_size) in lines {
            let leading = line_size * 1.35;
            if y - leading < margin && !page.is_empty() {
                self.page(size, None, &page, Content::new());
                page.clear();
                y = size.1 - margin;
            }
            y -= leading;
            page.push(Text {
                x: margin,
                y,
                size: *line_size,
                text,
            });
        }
        if !page.is_empty() {
            self.page(size, None, &page, Content::new());
        }
    }

    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    pub fn finish(mut self) -> Vec<u8> {
        let catalog = self.reference();
        self.pdf.catalog(catalog).pages(self.pages_ref);
        let count = self.pages.len() as i32;
        self.pdf
            .pages(self.pages_ref)
            .kids(self.pages.iter().copied())
            .count(count);
        self.pdf.finish()
    }
}

/// A 6寸 print sheet (its 1200 × 1800 JPEG, embedded unchanged) as a one-page PDF, 4 × 6 in,
/// so it prints at exactly 300 dpi.
pub fn sheet_pdf(jpeg: &[u8]) -> Vec<u8> {
    let mut document = Document::new();
    let image = document.image(jpeg, SHEET_WIDTH, SHEET_HEIGHT);
    document.page(SHEET_PAGE, Some(image), &[], Content::new());
    document.finish()
}

/// Draws a QR code of `text` (level M) with its bottom-left corner at (`x`, `y`), `side`
/// points wide, quiet zone included, in black on white.
pub fn qr_code(
    draw: &mut Content,
    text: &str,
    x: f32,
    y: f32,
    side: f32,
) -> Result<(), qrcode::types::QrError> {
    const QUIET: usize = 4;
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    let modules = code.width();
    let module = side / (modules + 2 * QUIET) as f32;
    let colors = code.to_colors();
    draw.save_state();
    draw.set_fill_gray(1.0);
    draw.rect(x, y, side, side);
    draw.fill_nonzero();
    draw.set_fill_gray(0.0);
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (col, row) = (i % modules, i / modules);
            draw.rect(
                x + (QUIET + col) as f32 * module,
                y + side - (QUIET + row + 1) as f32 * module,
                module,
                module,
            );
        }
    }
    draw.fill_nonzero();
    draw.restore_state();
    Ok(())
}

fn utf16be(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(pdf: &[u8], page: u32) -> String {
        lopdf::Document::load_mem(pdf)
            .expect("the PDF parses")
            .extract_text(&[page])
            .expect("its text reads back")
    }

    #[test]
    fn pages_hold_chinese_and_latin_text_that_reads_back() {
        let mut document = Document::new();
        document.page(
            SHEET_PAGE,
            None,
            &[Text {
                x: 10.0,
                y: 400.0,
                size: 8.0,
                text: "订单 0a1b2c · 吴晓兰",
            }],
            Content::new(),
        );
        let pdf = document.finish();
        let doc = lopdf::Document::load_mem(&pdf).unwrap();
        assert_eq!(doc.get_pages().len(), 1);
        assert!(text_of(&pdf, 1).contains("订单 0a1b2c · 吴晓兰"));
    }

    #[test]
    fn flowing_text_starts_a_new_page_when_one_is_full() {
        let lines: Vec<(String, f32)> = (0..100).map(|n| (format!("第{n}行"), 10.0)).collect();
        let mut document = Document::new();
        document.flow(SHEET_PAGE, 18.0, &lines);
        // (432 - 36) / 13.5 = 29 lines a page.
        assert_eq!(document.page_count(), 4);
        let pdf = document.finish();
        assert!(text_of(&pdf, 1).contains("第28行"));
        assert!(!text_of(&pdf, 1).contains("第29行"));
        assert!(text_of(&pdf, 4).contains("第99行"));
    }

    #[test]
    fn long_addresses_wrap_within_the_width() {
        let address = "江苏省无锡市滨湖区蠡湖大道1800号江南大学图书馆东门快递柜旁 Room 204";
        let lines = wrap(address, 12.0, 120.0);
        assert!(lines.len() > 2, "{lines:?}");
        assert!(
            lines.iter().all(|l| text_width(l, 12.0) <= 120.0),
            "{lines:?}"
        );
        assert_eq!(lines.concat().replace(' ', ""), address.replace(' ', ""));
        assert_eq!(wrap("短", 12.0, 120.0), vec!["短"]);
    }

    #[test]
    fn a_qr_code_reads_back_as_its_text() {
        let order = "3f2a9c0e5b7d4e1f8a6b2c9d0e1f2a3b";
        let mut document = Document::new();
        let mut draw = Content::new();
        qr_code(&mut draw, order, 20.0, 30.0, 120.0).unwrap();
        let caption = Text {
            x: 20.0,
            y: 200.0,
            size: 8.0,
            text: order,
        };
        document.page(LABEL_PAGE, None, &[caption], draw);
        let pdf = document.finish();
        // The page's filled squares painted into a picture, 4 px a point, and read as a phone
        // camera would.
        let doc = lopdf::Document::load_mem(&pdf).unwrap();
        let page = *doc.get_pages().get(&1).unwrap();
        let content = doc.get_and_decode_page_content(page).unwrap();
        let operators: Vec<&str> = content
            .operations
            .iter()
            .map(|op| op.operator.as_str())
            .collect();
        // The text ends where the drawing begins, each operator on its own.
        assert!(
            operators.windows(2).any(|w| w == ["ET", "q"]),
            "{operators:?}"
        );
        let mut picture = image::GrayImage::from_pixel(640, 640, image::Luma([255]));
        let mut gray = 0u8;
        for op in &content.operations {
            let number = |i: usize| op.operands[i].as_float().unwrap();
            match op.operator.as_str() {
                "g" => gray = (number(0) * 255.0) as u8,
                "re" => {
                    let (x, y, w, h) = (number(0), number(1), number(2), number(3));
                    for py in ((y * 4.0).round() as u32)..(((y + h) * 4.0).round() as u32) {
                        for px in ((x * 4.0).round() as u32)..(((x + w) * 4.0).round() as u32) {
                            picture.put_pixel(px, 639 - py, image::Luma([gray]));
                        }
                    }
                }
                _ => {}
            }
        }
        let mut png = Vec::new();
        picture
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert_eq!(crate::eligibility::qr::read(&png).as_deref(), Some(order));
    }
}
