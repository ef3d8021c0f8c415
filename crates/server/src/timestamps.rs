//! Date-times as the server keeps and sends them: fixed-width RFC 3339 text in UTC, of the years
//! 0000 to 9999. The store writes them, the protocol checks what a site sends, and a `$filter`'s
//! date-times are checked the same way before the store sees them.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Timestamps are stored as fixed-width RFC 3339 UTC text (`2026-11-21T09:30:00Z`), so that text
/// order is time order and the wire form needs no conversion.
pub fn timestamp(at: OffsetDateTime) -> String {
    let at = at
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .expect("zero nanoseconds is valid");
    at.format(&Rfc3339).expect("UTC timestamps always format")
}

pub fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// An RFC 3339 date-time from a caller in the stored form, if it has one: its instant in UTC
/// must fall in the years 0000 to 9999 (`0000-01-01T00:00:00+01:00` is in the year -1).
pub fn stored_timestamp(text: &str) -> Option<String> {
    utc_instant(text).map(timestamp)
}

/// An RFC 3339 date-time's instant, if it falls in the years 0000 to 9999 in UTC.
pub fn utc_instant(text: &str) -> Option<OffsetDateTime> {
    let at = parse_timestamp(text)?.checked_to_offset(time::UtcOffset::UTC)?;
    (0..=9999).contains(&at.year()).then_some(at)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn only_instants_of_the_years_0000_to_9999_are_stored() {
        assert_eq!(
            stored_timestamp("2026-11-21T10:30:00+01:00").as_deref(),
            Some("2026-11-21T09:30:00Z")
        );
        assert_eq!(
            stored_timestamp("0000-01-01T01:00:00+01:00").as_deref(),
            Some("0000-01-01T00:00:00Z")
        );
        for text in [
            "0000-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "2026-11-21T09:3\u{e9}00Z",
            "not a date",
            "",
        ] {
            assert_eq!(stored_timestamp(text), None, "{text}");
        }
    }

    #[test]
    fn timestamps_are_fixed_width_utc() {
        assert_eq!(
            timestamp(datetime!(2026-03-04 05:06:07.891 +02:00)),
            "2026-03-04T03:06:07Z"
        );
    }
}
