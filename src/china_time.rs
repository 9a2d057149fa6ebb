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

/// A moment as people type it: RFC 3339 with its offset (`2026-12-01T09:00:00+08:00`,
/// `…Z`), or a date and time without one (`2026-12-01 09:00`, seconds optional, `T` or a space),
/// read on a China clock.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
    .and_then(|local| CHINA.from_local_datetime(&local).single())
    .map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn moments_are_read_with_their_offset_or_on_a_china_clock() {
        let nine = Utc.with_ymd_and_hms(2026, 12, 1, 1, 0, 0).unwrap();
        for text in [
            "2026-12-01T09:00:00+08:00",
            "2026-12-01T01:00:00Z",
            "2026-12-01 09:00",
            "2026-12-01 09:00:00",
            "2026-12-01T09:00",
        ] {
            assert_eq!(parse(text), Some(nine), "{text}");
        }
        for text in ["2026-12-01", "09:00", "2026-13-01 09:00", "yesterday"] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn a_utc_instant_reads_eight_hours_later_in_china() {
        let at = Utc.with_ymd_and_hms(2026, 6, 30, 16, 30, 0).unwrap();
        assert_eq!(format(&at, "%Y-%m-%d %H:%M"), "2026-07-01 00:30");
        assert_eq!(rfc3339(&at), "2026-07-01T00:30:00+08:00");
    }
}
