//! Collection progress for the staff who chase students before a batch's deadline: which batch
//! or school's rows to count, and the students behind a count as the CSV or the workbook they
//! chase students with. The
//! counting itself is the `collection_progress` projection's.

use chrono::{DateTime, Utc};
use photo_ledger_projections::collection_progress::{Scope, StudentProgress};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::eligibility::cohort::Found;
use crate::{china_time, csv_text};

/// The progress rows of the batch or school.
pub fn scope(found: &Found) -> Scope<'_> {
    match &found.batch {
        Some(batch) => Scope::Batch {
            batch_id: &batch.batch_id,
            school_id: &found.school_id,
            education_type: &batch.education_type,
        },
        None => Scope::School {
            school_id: &found.school_id,
        },
    }
}

/// The file a list of students is taken away in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Export {
    /// UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese right.
    Csv,
    /// An Excel workbook: what school staff open anyway, with student numbers kept as text
    /// (leading zeros and all).
    Xlsx,
}

impl Export {
    /// `csv` or `xlsx`.
    pub fn parse(format: &str) -> Option<Self> {
        match format {
            "csv" => Some(Export::Csv),
            "xlsx" => Some(Export::Xlsx),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Export::Csv => "csv",
            Export::Xlsx => "xlsx",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Export::Csv => "text/csv; charset=utf-8",
            Export::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    /// The students as this file, times on a China clock.
    pub fn write(self, students: &[StudentProgress]) -> Result<Vec<u8>, XlsxError> {
        match self {
            Export::Csv => Ok(csv(students)),
            Export::Xlsx => xlsx(students),
        }
    }
}

const HEADER: [&str; 9] = [
    "学号",
    "姓名",
    "学历类别",
    "状态",
    "缴费时间",
    "拍照时间",
    "提交时间",
    "审核时间",
    "采集编号",
];

/// Each student's cells, in [`HEADER`]'s order.
fn cells(s: &StudentProgress) -> [String; 9] {
    let time = |at: &Option<DateTime<Utc>>| {
        at.as_ref()
            .map(|at| china_time::format(at, "%Y-%m-%d %H:%M"))
            .unwrap_or_default()
    };
    [
        s.student_number.clone().unwrap_or_default(),
        s.name.clone().unwrap_or_default(),
        s.education_type.clone(),
        s.status_label.clone(),
        time(&s.paid_at),
        time(&s.photographed_at),
        time(&s.submitted_at),
        time(&s.decided_at),
        s.capture_id.clone().unwrap_or_default(),
    ]
}

fn csv(students: &[StudentProgress]) -> Vec<u8> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut writer = csv::Writer::from_writer(&mut out);
        writer
            .write_record(HEADER)
            .expect("writing to memory cannot fail");
        for s in students {
            csv_text::write_text_record(&mut writer, cells(s).iter().map(String::as_str))
                .expect("writing to memory cannot fail");
        }
        writer.flush().expect("writing to memory cannot fail");
    }
    out
}

fn xlsx(students: &[StudentProgress]) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("学生")?;
    let bold = Format::new().set_bold();
    for (column, title) in (0u16..).zip(HEADER) {
        sheet.write_string_with_format(0, column, title, &bold)?;
    }
    for (row, student) in (1u32..).zip(students) {
        for (column, cell) in (0u16..).zip(cells(student)) {
            if !cell.is_empty() {
                sheet.write_string(row, column, cell)?;
            }
        }
    }
    for (column, width) in (0u16..).zip([14.0, 10.0, 14.0, 12.0, 17.0, 17.0, 17.0, 17.0, 38.0]) {
        sheet.set_column_width(column, width)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    workbook.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A student who paid at 00:30 on 2 June, China time, and has not been photographed.
    fn paid_student(number: &str, capture_id: Option<&str>) -> StudentProgress {
        StudentProgress {
            student_number: Some(number.into()),
            name: Some("吴晓兰".into()),
            education_type: "普通高等教育".into(),
            capture_id: capture_id.map(str::to_string),
            status: "awaiting_photo".into(),
            status_label: "待拍照".into(),
            paid_at: Some(Utc.with_ymd_and_hms(2026, 6, 1, 16, 30, 0).unwrap()),
            photographed_at: None,
            submitted_at: None,
            decided_at: None,
        }
    }

    #[test]
    fn the_csv_has_a_row_per_student_with_times_on_a_china_clock() {
        let students = [
            paid_student("2022010001", Some("c1")),
            StudentProgress {
                student_number: Some("2022010002".into()),
                name: Some("欧阳娜娜".into()),
                education_type: "普通高等教育".into(),
                capture_id: None,
                status: "not_started".into(),
                status_label: "未开始".into(),
                paid_at: None,
                photographed_at: None,
                submitted_at: None,
                decided_at: None,
            },
        ];
        let text = String::from_utf8(Export::Csv.write(&students).unwrap()).unwrap();
        let lines: Vec<&str> = text.strip_prefix('\u{feff}').unwrap().lines().collect();
        assert_eq!(
            lines,
            [
                "学号,姓名,学历类别,状态,缴费时间,拍照时间,提交时间,审核时间,采集编号",
                "2022010001,吴晓兰,普通高等教育,待拍照,2026-06-02 00:30,,,,c1",
                "2022010002,欧阳娜娜,普通高等教育,未开始,,,,,",
            ]
        );
    }

    #[test]
    fn a_roster_value_a_spreadsheet_would_run_is_written_as_text() {
        let mut student = paid_student("=1+1", None);
        student.name = Some("=HYPERLINK(\"http://x\")".into());
        let text = String::from_utf8(Export::Csv.write(&[student]).unwrap()).unwrap();
        assert!(
            text.contains("'=1+1,\"'=HYPERLINK(\"\"http://x\"\")\","),
            "{text}"
        );
    }

    #[test]
    fn the_workbook_holds_the_same_cells_as_text() {
        use calamine::{Data, Reader, Xlsx};
        let student = paid_student("0022010001", None);
        let bytes = Export::Xlsx.write(&[student]).unwrap();
        let mut workbook: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let sheet = workbook.worksheet_range("学生").unwrap();
        let row = |n: usize| -> Vec<String> {
            sheet
                .rows()
                .nth(n)
                .unwrap()
                .iter()
                .map(|c| match c {
                    Data::String(s) => s.clone(),
                    Data::Empty => String::new(),
                    other => panic!("not text: {other:?}"),
                })
                .collect()
        };
        assert_eq!(row(0), HEADER);
        assert_eq!(
            row(1),
            [
                "0022010001",
                "吴晓兰",
                "普通高等教育",
                "待拍照",
                "2026-06-02 00:30",
                "",
                "",
                "",
                ""
            ]
        );
        assert_eq!(sheet.rows().count(), 2);
    }
}
