//! How values read on screen. Pure functions, tested natively.

use admin_api::{
    ActionState, CheckResult, ClientHealthState, ComplianceState, ConfigurationManagerActionType,
    ConnectorStatus, DeviceAction, ManagedBy, OwnerType,
};

pub fn managed_by(value: ManagedBy) -> &'static str {
    match value {
        ManagedBy::ConfigMgr => "ConfigMgr",
        ManagedBy::CoManaged => "Co-managed",
        ManagedBy::Intune => "Intune",
    }
}

pub fn owner_type(value: OwnerType) -> &'static str {
    match value {
        OwnerType::Company => "Corporate",
        OwnerType::Personal => "Personal",
        OwnerType::Unknown => "Unknown",
    }
}

pub fn compliance(value: ComplianceState) -> &'static str {
    match value {
        ComplianceState::Compliant => "Compliant",
        ComplianceState::Noncompliant => "Not compliant",
        ComplianceState::ConfigManager => "See ConfigMgr",
        ComplianceState::InGracePeriod => "In grace period",
        ComplianceState::Unknown => "Unknown",
    }
}

pub fn client_health(value: ClientHealthState) -> &'static str {
    match value {
        ClientHealthState::Healthy => "Healthy",
        ClientHealthState::Unhealthy => "Unhealthy",
        ClientHealthState::Unknown => "Unknown",
    }
}

pub fn connector_status(value: ConnectorStatus) -> &'static str {
    match value {
        ConnectorStatus::Healthy => "Healthy",
        ConnectorStatus::Warning => "Warning",
        ConnectorStatus::Unhealthy => "Unhealthy",
        ConnectorStatus::Unknown => "Unknown",
        ConnectorStatus::Offboarding => "Offboarding",
    }
}

/// A connectivity check's result as the connector details show it.
pub fn check_result(value: CheckResult) -> &'static str {
    match value {
        CheckResult::Passed => "Passed",
        CheckResult::Failed => "Failed",
        CheckResult::Skipped => "Not checked",
    }
}

/// The order the connector list shows: what needs attention first, as the Intune admin center does.
pub fn connector_status_rank(value: ConnectorStatus) -> u8 {
    match value {
        ConnectorStatus::Unhealthy => 0,
        ConnectorStatus::Warning => 1,
        ConnectorStatus::Unknown => 2,
        ConnectorStatus::Offboarding => 3,
        ConnectorStatus::Healthy => 4,
    }
}

/// The labels the admin center uses for the three actions.
pub fn action(value: ConfigurationManagerActionType) -> &'static str {
    match value {
        ConfigurationManagerActionType::RefreshMachinePolicy => "Sync Machine Policy",
        ConfigurationManagerActionType::RefreshUserPolicy => "Sync User Policy",
        ConfigurationManagerActionType::AppEvaluation => "App Evaluation Cycle",
    }
}

pub fn action_state(value: ActionState) -> &'static str {
    match value {
        ActionState::Pending => "Pending",
        ActionState::Active => "Delivered",
        ActionState::Done => "Succeeded",
        ActionState::Failed => "Failed",
        ActionState::TimedOut => "Timed out",
        ActionState::Canceled => "Canceled",
    }
}

/// A client return code as ConfigMgr people read it: 0, or an HRESULT in hex.
pub fn result_code(code: i64) -> String {
    if code == 0 {
        "0".into()
    } else if (i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&code) {
        format!("0x{:08X}", code as u32)
    } else {
        code.to_string()
    }
}

/// An action's state with what the client answered, e.g. "Failed (0x800706BA)".
pub fn action_outcome(action: &DeviceAction) -> String {
    match (action.action_state, action.result_code) {
        (ActionState::Failed, Some(code)) => format!("Failed ({})", result_code(code)),
        (state, _) => action_state(state).to_owned(),
    }
}

/// An RFC 3339 UTC timestamp as `2026-11-21 09:30 UTC`; anything else as it came. Total over
/// any string: a value from a site or the server is never trusted to be well formed.
pub fn timestamp(value: &str) -> String {
    // The shape `dddd-dd-ddTdd:dd:ddZ`, byte by byte: all ASCII, so the slices below fall on
    // character boundaries.
    const SHAPE: &[u8; 20] = b"dddd-dd-ddTdd:dd:ddZ";
    let well_formed = value.len() == SHAPE.len()
        && value
            .bytes()
            .zip(SHAPE)
            .all(|(byte, &expected)| match expected {
                b'd' => byte.is_ascii_digit(),
                other => byte == other,
            });
    match (value.get(..10), value.get(11..16)) {
        (Some(day), Some(minute)) if well_formed => format!("{day} {minute} UTC"),
        _ => value.to_owned(),
    }
}

/// An RFC 3339 UTC timestamp to the second, `2026-11-21 09:30:59 UTC`; anything else as it came.
pub fn timestamp_seconds(value: &str) -> String {
    match seconds_since_epoch(value) {
        Some(_) => format!("{} {} UTC", &value[..10], &value[11..19]),
        None => value.to_owned(),
    }
}

/// How long before `now` (seconds since 1970) the timestamp `value` was, as people say it:
/// "just now", "2 min ago", "3 h ago", "5 days ago"; `None` for what is not a timestamp. A time
/// ahead of `now` (a clock a little off) reads "just now".
pub fn relative(value: &str, now: i64) -> Option<String> {
    let ago = now - seconds_since_epoch(value)?;
    Some(match ago {
        ..=44 => "just now".to_owned(),
        45..=5_399 => format!("{} min ago", ((ago + 30) / 60).max(1)),
        5_400..=79_199 => format!("{} h ago", (ago + 1_800) / 3_600),
        _ => {
            let days = (ago + 43_200) / 86_400;
            format!("{days} {} ago", if days == 1 { "day" } else { "days" })
        }
    })
}

/// Seconds since 1970 of a timestamp in the stored form `dddd-dd-ddTdd:dd:ddZ`; `None` for any
/// other string.
pub fn seconds_since_epoch(value: &str) -> Option<i64> {
    const SHAPE: &[u8; 20] = b"dddd-dd-ddTdd:dd:ddZ";
    let bytes = value.as_bytes();
    let shaped = bytes.len() == SHAPE.len()
        && bytes
            .iter()
            .zip(SHAPE)
            .all(|(byte, &expected)| match expected {
                b'd' => byte.is_ascii_digit(),
                other => *byte == other,
            });
    if !shaped {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> i64 {
        bytes[range]
            .iter()
            .fold(0, |n, digit| n * 10 + i64::from(digit - b'0'))
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), for the proleptic Gregorian calendar.
    let shifted = if month <= 2 { year - 1 } else { year };
    let era = shifted.div_euclid(400);
    let year_of_era = shifted - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// A sentence with the stored timestamps in it (`Valid until 2026-12-01T12:21:03Z.`) made
/// readable (`Valid until 2026-12-01 12:21:03 UTC.`); the rest as it came.
pub fn readable_times(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while !rest.is_empty() {
        match rest
            .get(..20)
            .filter(|window| seconds_since_epoch(window).is_some())
        {
            Some(window) => {
                out.push_str(&timestamp_seconds(window));
                rest = &rest[20..];
            }
            None => {
                let next = rest.chars().next().expect("not empty");
                out.push(next);
                rest = &rest[next.len_utf8()..];
            }
        }
    }
    out
}

/// A count with thousands separated, `3,123`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// An optional value, with a dash for what the site did not report.
pub fn or_dash(value: Option<&str>) -> String {
    value.filter(|v| !v.is_empty()).unwrap_or("—").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_utc_minutes() {
        assert_eq!(timestamp("2026-11-21T09:30:59Z"), "2026-11-21 09:30 UTC");
        assert_eq!(timestamp("yesterday"), "yesterday");
        // A multi-byte character where a digit belongs (once a wasm abort for every operator).
        assert_eq!(timestamp("2026-11-21T09:3é00Z"), "2026-11-21T09:3é00Z");
        assert_eq!(timestamp("2026-11-21T09:30:0éZ"), "2026-11-21T09:30:0éZ");
    }

    // proptest runs natively (the display rules are the same code on both targets).
    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        /// Every formatter of text takes any string without panicking; what is not a timestamp
        /// reads as it came.
        #[test]
        fn text_formatters_are_total(value in proptest::prelude::any::<String>(), shaped in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9é]{2}:[0-9]{2}Z") {
            for text in [&value, &shaped] {
                let shown = timestamp(text);
                proptest::prop_assert!(shown == *text || shown.ends_with(" UTC"));
                let shown = timestamp_seconds(text);
                proptest::prop_assert!(shown == *text || shown.ends_with(" UTC"));
                let _ = relative(text, 1_795_253_459);
                let _ = readable_times(text);
                proptest::prop_assert!(!or_dash(Some(text)).is_empty());
            }
        }

        #[test]
        fn result_codes_are_total(code in proptest::num::i64::ANY) {
            proptest::prop_assert!(!result_code(code).is_empty());
        }
    }

    #[test]
    fn timestamps_read_to_the_second_and_as_time_ago() {
        assert_eq!(
            timestamp_seconds("2026-11-21T09:30:59Z"),
            "2026-11-21 09:30:59 UTC"
        );
        assert_eq!(timestamp_seconds("soon"), "soon");
        assert_eq!(seconds_since_epoch("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            seconds_since_epoch("2026-11-21T09:30:59Z"),
            Some(1_795_253_459)
        );
        assert_eq!(
            seconds_since_epoch("2000-02-29T00:00:00Z"),
            Some(951_782_400)
        );
        assert_eq!(seconds_since_epoch("2026-13-01T00:00:00Z"), None);
        let at = 1_795_253_459;
        let value = "2026-11-21T09:30:59Z";
        assert_eq!(relative(value, at + 10).as_deref(), Some("just now"));
        assert_eq!(relative(value, at - 30).as_deref(), Some("just now"));
        assert_eq!(relative(value, at + 120).as_deref(), Some("2 min ago"));
        assert_eq!(relative(value, at + 3 * 3_600).as_deref(), Some("3 h ago"));
        assert_eq!(relative(value, at + 86_400).as_deref(), Some("1 day ago"));
        assert_eq!(
            relative(value, at + 5 * 86_400).as_deref(),
            Some("5 days ago")
        );
        assert_eq!(relative("yesterday", at), None);
    }

    #[test]
    fn timestamps_in_sentences_become_readable() {
        assert_eq!(
            readable_times("Valid until 2026-12-01T12:21:03Z."),
            "Valid until 2026-12-01 12:21:03 UTC."
        );
        assert_eq!(
            readable_times("é 2026-12-01T12:21:03Z é"),
            "é 2026-12-01 12:21:03 UTC é"
        );
        assert_eq!(readable_times("no time here"), "no time here");
    }

    #[test]
    fn counts_read_with_thousands_separated() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(3_123), "3,123");
        assert_eq!(count(1_000_000), "1,000,000");
    }

    #[test]
    fn return_codes_read_as_hresults() {
        assert_eq!(result_code(0), "0");
        assert_eq!(result_code(-2147023174), "0x800706BA");
        assert_eq!(result_code(2147944122), "0x800706BA");
        assert_eq!(result_code(1), "0x00000001");
    }

    #[test]
    fn missing_values_read_as_a_dash() {
        assert_eq!(or_dash(None), "—");
        assert_eq!(or_dash(Some("")), "—");
        assert_eq!(or_dash(Some("CHQ")), "CHQ");
    }
}
