//! What a package holds, read from the captures' documents: one [`Entry`] per approved
//! capture, where its photo goes in the ZIP, and the manifest CSV that lists them.
//!
//! Everything here is a function of the entries alone, so a package made again from the same
//! captures is the same bytes.

use chrono::{DateTime, Utc};
use photo_ledger_domain::aggregate::Review;
use photo_ledger_domain::identity::IdType;
use photo_ledger_domain::values::PhotoId;
use photo_ledger_projections::capture_doc::{CaptureDoc, SubmissionOutcome};
use sha2::{Digest, Sha256};

use crate::{china_time, csv_text};

/// The manifest's name inside the ZIP.
pub const MANIFEST_FILE: &str = "manifest.csv";

/// One approved capture in a package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub capture_id: String,
    pub id_type: IdType,
    /// As the roster gave it, normalised (upper-case letters, no spaces).
    pub id_number: String,
    pub name: String,
    pub school: String,
    pub education_type: String,
    pub student_number: Option<String>,
    pub standard_photo_id: PhotoId,
    pub photo_sha256: String,
    pub approved_at: DateTime<Utc>,
    pub reviewer: String,
}

impl Entry {
    /// The entry of an approved capture; `None` for one that is not approved (or whose approved
    /// photo the document does not hold).
    pub fn of(capture_id: &str, doc: &CaptureDoc) -> Option<Entry> {
        let qualification = doc.capture.qualification.as_ref()?;
        let Review::Approved { standard_photo_id } = doc.capture.review else {
            return None;
        };
        let photo = doc.photo(standard_photo_id)?;
        let (reviewer, approved_at) =
            doc.submissions
                .iter()
                .rev()
                .find_map(|s| match &s.outcome {
                    Some(SubmissionOutcome::Approved { reviewer_id, at }) => {
                        Some((reviewer_id, *at))
                    }
                    _ => None,
                })?;
        let student = &qualification.student;
        Some(Entry {
            capture_id: capture_id.to_string(),
            id_type: student.id_type,
            id_number: student.id_number.as_str().to_uppercase(),
            name: student.name.clone(),
            school: qualification.school.name.clone(),
            education_type: qualification.education_type.clone(),
            student_number: student.student_number.clone(),
            standard_photo_id,
            photo_sha256: photo.sha256.clone(),
            approved_at,
            reviewer: reviewer.clone(),
        })
    }

    /// Where the photo goes in the ZIP: `<学历类别>/<证件号码>.jpg`, as 学信网's batch upload
    /// takes it (passports by passport number, resident ID numbers with an upper-case X).
    pub fn path(&self) -> String {
        format!(
            "{}/{}.jpg",
            path_component(&self.education_type),
            path_component(&self.id_number)
        )
    }
}

/// `text` as one safe ZIP path component: separators, control characters and a leading dot
/// become `_`, so no entry can climb out of its folder or hide.
fn path_component(text: &str) -> String {
    let safe: String = text
        .trim()
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    match safe.strip_prefix('.') {
        Some(rest) => format!("_{rest}"),
        None if safe.is_empty() => "_".into(),
        None => safe,
    }
}

/// Orders entries as the package lists them: by education type, then ID number.
pub fn sort(entries: &mut [Entry]) {
    entries.sort_by(|a, b| {
        (&a.education_type, &a.id_number, &a.capture_id).cmp(&(
            &b.education_type,
            &b.id_number,
            &b.capture_id,
        ))
    });
}

/// The manifest CSV (UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese
/// right): one line per entry, in the package's order.
pub fn csv(entries: &[Entry]) -> Vec<u8> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut writer = csv::Writer::from_writer(&mut out);
        let header = [
            "证件号码",
            "证件类型",
            "姓名",
            "学校",
            "学历类别",
            "学号",
            "照片文件",
            "照片SHA-256",
            "审核通过时间",
            "审核人",
            "采集编号",
        ];
        writer
            .write_record(header)
            .expect("writing to memory cannot fail");
        for e in entries {
            let cells = [
                e.id_number.as_str(),
                e.id_type.label(),
                &e.name,
                &e.school,
                &e.education_type,
                e.student_number.as_deref().unwrap_or(""),
                &e.path(),
                &e.photo_sha256,
                &china_time::rfc3339(&e.approved_at),
                &e.reviewer,
                &e.capture_id,
            ];
            csv_text::write_text_record(&mut writer, cells).expect("writing to memory cannot fail");
        }
        writer.flush().expect("writing to memory cannot fail");
    }
    out
}

/// The SHA-256 (hex) of the manifest, which names the package's file.
pub fn sha256(manifest: &[u8]) -> String {
    hex::encode(Sha256::digest(manifest))
}

/// An entry for tests: 吴晓兰 of 江南大学, approved on 2026-06-01.
#[cfg(test)]
pub(crate) fn sample_entry(education_type: &str, id_number: &str, photo_sha256: &str) -> Entry {
    use chrono::TimeZone;
    Entry {
        capture_id: format!("capture-{id_number}"),
        id_type: IdType::ResidentId,
        id_number: id_number.into(),
        name: "吴晓兰".into(),
        school: "江南大学".into(),
        education_type: education_type.into(),
        student_number: Some("2022010001".into()),
        standard_photo_id: PhotoId::from_uuid(uuid::Uuid::nil()),
        photo_sha256: photo_sha256.into(),
        approved_at: Utc.with_ymd_and_hms(2026, 6, 1, 1, 2, 3).unwrap(),
        reviewer: "reviewer".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(education_type: &str, id_number: &str) -> Entry {
        sample_entry(education_type, id_number, &"ab".repeat(32))
    }

    #[test]
    fn a_photo_is_named_by_its_id_number_in_its_education_types_folder() {
        assert_eq!(
            entry("普通高等教育", "32020320040815122X").path(),
            "普通高等教育/32020320040815122X.jpg"
        );
    }

    #[test]
    fn no_path_climbs_out_of_its_folder() {
        assert_eq!(entry("../etc", "A/B").path(), "_._etc/A_B.jpg");
        assert_eq!(entry("", "\u{0}x").path(), "_/_x.jpg");
    }

    #[test]
    fn entries_are_listed_by_education_type_then_id_number() {
        let mut entries = vec![
            entry("开放教育", "2"),
            entry("普通高等教育", "1"),
            entry("开放教育", "1"),
        ];
        sort(&mut entries);
        let paths: Vec<String> = entries.iter().map(Entry::path).collect();
        assert_eq!(
            paths,
            ["开放教育/1.jpg", "开放教育/2.jpg", "普通高等教育/1.jpg"]
        );
    }

    #[test]
    fn the_manifest_lists_every_entry_with_its_hash_and_approval_on_a_beijing_clock() {
        let manifest = csv(&[entry("普通高等教育", "320203200408151226")]);
        let text = String::from_utf8(manifest.clone()).unwrap();
        let mut lines = text.strip_prefix('\u{feff}').unwrap().lines();
        assert!(lines
            .next()
            .unwrap()
            .starts_with("证件号码,证件类型,姓名,学校"));
        assert_eq!(
            lines.next().unwrap(),
            format!(
                "320203200408151226,居民身份证,吴晓兰,江南大学,普通高等教育,2022010001,\
                 普通高等教育/320203200408151226.jpg,{},2026-06-01T09:02:03+08:00,reviewer,\
                 capture-320203200408151226",
                "ab".repeat(32)
            )
        );
        assert_eq!(lines.next(), None);
        assert_eq!(sha256(&manifest), sha256(&manifest.clone()));
        assert_ne!(sha256(&manifest), sha256(&csv(&[])));
    }
}
