//! The clock students, schools and staff read: China Standard Time (UTC+8, no daylight
//! saving). Everything is stored in UTC; it becomes China time only where people read it or
//! where a day ends for them (a batch's deadline, a roster's "today").

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat, TimeZone, Utc};

/// UTC+8.
pub const CHINA: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => unreachable!(),
};

/// `at` on a China clock, as `format` (chrono's `strftime` syntax) writes it.
pub fn format(at: &DateTime<Utc>, format: &str) -> String {
    at.with_timezone(&CHINA).format(format).to_string()
}

/// The midnight that starts `day` on a China clock.
pub fn midnight(day: NaiveDate) -> DateTime<Utc> {
    let start = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    CHINA
        .from_local_datetime(&start)
        .single()
        .expect("a fixed offset has no gaps")
        .with_timezone(&Utc)
}

/// `at` as RFC 3339 on a China clock, to the second: `2026-06-01T09:02:03+08:00`.
pub fn rfc3339(at: &DateTime<Utc>) -> String {
    at.with_timezone(&CHINA)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_utc_instant_reads_eight_hours_later_in_china() {
        let at = Utc.with_ymd_and_hms(2026, 6, 30, 16, 30, 0).unwrap();
        assert_eq!(format(&at, "%Y-%m-%d %H:%M"), "2026-07-01 00:30");
        assert_eq!(rfc3339(&at), "2026-07-01T00:30:00+08:00");
    }
}
