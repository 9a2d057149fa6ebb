//! Collection progress for the staff who chase students before a batch's deadline: which batch
//! or school's rows to count, and the students behind a count as the CSV they work from. The
//! counting itself is the `collection_progress` projection's.

use chrono::{DateTime, Utc};
use photo_ledger_projections::collection_progress::{Scope, StudentProgress};

use crate::china_time;
use crate::eligibility::cohort::Found;

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

/// The students as a CSV (UTF-8 with a byte-order mark, so spreadsheet programs read the
/// Chinese right), times on a China clock.
pub fn csv(students: &[StudentProgress]) -> Vec<u8> {
    let time = |at: &Option<DateTime<Utc>>| {
        at.as_ref()
            .map(|at| china_time::format(at, "%Y-%m-%d %H:%M"))
            .unwrap_or_default()
    };
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut writer = csv::Writer::from_writer(&mut out);
        writer
            .write_record([
                "学号",
                "姓名",
                "学历类别",
                "状态",
                "缴费时间",
                "拍照时间",
                "提交时间",
                "审核时间",
                "采集编号",
            ])
            .expect("writing to memory cannot fail");
        for s in students {
            writer
                .write_record([
                    s.student_number.as_deref().unwrap_or(""),
                    s.name.as_deref().unwrap_or(""),
                    &s.education_type,
                    &s.status_label,
                    &time(&s.paid_at),
                    &time(&s.photographed_at),
                    &time(&s.submitted_at),
                    &time(&s.decided_at),
                    s.capture_id.as_deref().unwrap_or(""),
                ])
                .expect("writing to memory cannot fail");
        }
        writer.flush().expect("writing to memory cannot fail");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_csv_has_a_row_per_student_with_times_on_a_china_clock() {
        let paid = Utc.with_ymd_and_hms(2026, 6, 1, 16, 30, 0).unwrap();
        let students = [
            StudentProgress {
                student_number: Some("2022010001".into()),
                name: Some("吴晓兰".into()),
                education_type: "普通高等教育".into(),
                capture_id: Some("c1".into()),
                status: "awaiting_photo".into(),
                status_label: "待拍照".into(),
                paid_at: Some(paid),
                photographed_at: None,
                submitted_at: None,
                decided_at: None,
            },
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
        let text = String::from_utf8(csv(&students)).unwrap();
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
}
