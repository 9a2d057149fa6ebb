//! A roster's collection codes as a school hands them out: one QR picture per student, named
//! `<学历类别>-<学号>.png`, and `codes.csv` listing each file with the student's masked name and
//! ID number and the code as text. `photo-ledger codes issue` writes them to a folder; the
//! console gives them as one ZIP.

use std::io::Write;

use photo_ledger_domain::identity::{mask_id, mask_name};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::codes::{CodePayload, CodeSigner, FieldTooLong};
use super::qr::{self, RenderError};
use super::roster::RosterStudent;

/// The most codes one ZIP holds (their pictures are held while it is written: about 3 KB
/// each); a larger roster is taken one education type at a time.
pub const MAX_CODES_PER_ZIP: usize = 10_000;

pub const INDEX_FILE: &str = "codes.csv";

/// Why codes cannot be drawn.
#[derive(Debug, thiserror::Error)]
pub enum CodeSheetError {
    #[error(transparent)]
    TooLong(#[from] FieldTooLong),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("writing the codes")]
    Write(#[from] std::io::Error),
    #[error("writing codes.csv")]
    Index(#[from] csv::Error),
    #[error("writing the ZIP")]
    Zip(#[from] zip::result::ZipError),
}

/// One student's code picture.
pub struct CodeFile {
    pub file_name: String,
    pub png: Vec<u8>,
}

/// Every student's code picture and the index of them (`codes.csv`, UTF-8 with a byte-order
/// mark so Excel reads the Chinese right). Two students whose file names would be the same
/// (`2022-001` and `2022_001`) get `-2`, `-3`… CPU work: call it from a blocking thread.
pub fn draw(
    signer: &CodeSigner,
    school_id: uuid::Uuid,
    students: &[RosterStudent],
) -> Result<(Vec<CodeFile>, Vec<u8>), CodeSheetError> {
    let mut files = Vec::with_capacity(students.len());
    let mut taken = std::collections::HashSet::new();
    let mut index = csv::Writer::from_writer("\u{feff}".as_bytes().to_vec());
    index.write_record([
        "file",
        "education_type",
        "student_number",
        "name_masked",
        "id_masked",
        "code",
    ])?;
    for student in students {
        let payload = CodePayload {
            school_id,
            education_type: student.education_type.clone(),
            student_number: student.student_number.clone(),
        };
        let token = signer.issue(&payload)?;
        let stem = format!(
            "{}-{}",
            safe_file_part(&student.education_type),
            safe_file_part(&student.student_number)
        );
        let file_name = unique_png_name(&mut taken, &stem);
        let cells = [
            file_name.as_str(),
            &payload.education_type,
            &payload.student_number,
            &mask_name(&student.name),
            &mask_id(student.id_number.as_str()),
            &token,
        ];
        crate::csv_text::write_text_record(&mut index, cells)?;
        files.push(CodeFile {
            file_name,
            png: qr::render_png(&token)?,
        });
    }
    let index = index.into_inner().map_err(|e| e.into_error())?;
    Ok((files, index))
}

/// The pictures and the index as one ZIP (stored: PNGs do not shrink).
pub fn zip(files: &[CodeFile], index: &[u8]) -> Result<Vec<u8>, CodeSheetError> {
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .unix_permissions(0o644);
    zip.start_file(INDEX_FILE, options)?;
    zip.write_all(index)?;
    for file in files {
        zip.start_file(file.file_name.as_str(), options)?;
        zip.write_all(&file.png)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// `<stem>.png`, or `<stem>-2.png`, `-3`… when that is taken; recorded as taken.
fn unique_png_name(taken: &mut std::collections::HashSet<String>, stem: &str) -> String {
    let name = (1..)
        .map(|n| match n {
            1 => format!("{stem}.png"),
            n => format!("{stem}-{n}.png"),
        })
        .find(|name| !taken.contains(name))
        .expect("some suffix is free");
    taken.insert(name.clone());
    name
}

/// Letters (any script) and digits stay; anything a file system might mind becomes `_`.
fn safe_file_part(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_letters_and_digits_only() {
        assert_eq!(safe_file_part("专升本/业余 2026"), "专升本_业余_2026");
        assert_eq!(safe_file_part("../2022010001"), "___2022010001");
    }

    #[test]
    fn two_students_whose_names_meet_get_files_of_their_own() {
        let mut taken = std::collections::HashSet::new();
        let stem = |number: &str| format!("自考-{}", safe_file_part(number));
        assert_eq!(
            unique_png_name(&mut taken, &stem("2022-001")),
            "自考-2022_001.png"
        );
        assert_eq!(
            unique_png_name(&mut taken, &stem("2022_001")),
            "自考-2022_001-2.png"
        );
        assert_eq!(
            unique_png_name(&mut taken, &stem("2022.001")),
            "自考-2022_001-3.png"
        );
    }
}
