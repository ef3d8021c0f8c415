//! What the site's WMI classes hold, read defensively: property names in any case (WMI's are
//! case-insensitive), values checked (a date that does not parse, an id that is not one, is left
//! out rather than sent on), and the mapping of one device onto the connector protocol's
//! [`SiteDevice`] (docs/attach-a-site.md lists it property by property).

use admin_api::protocol::SiteDevice;
use admin_api::{
    ClientHealthState, ComplianceState, ConfigurationManagerClientInformation, DeviceCollection,
    ManagedBy, OwnerType,
};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// One WMI object as the AdminService sends it.
pub type Row = Map<String, Value>;

/// A property, whatever the case of its name.
pub fn get<'a>(row: &'a Row, name: &str) -> Option<&'a Value> {
    row.get(name).or_else(|| {
        row.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// A non-empty text property, without control characters, at most `MAX_TEXT` characters.
pub fn text(row: &Row, name: &str) -> Option<String> {
    let value = get(row, name)?.as_str()?.trim();
    (!value.is_empty() && value.chars().count() <= MAX_TEXT && !value.chars().any(char::is_control))
        .then(|| value.to_owned())
}

/// Longest text property taken from the site.
pub const MAX_TEXT: usize = 256;

/// An unsigned 32-bit property (WMI's UInt32), as a number or a numeric string.
pub fn uint(row: &Row, name: &str) -> Option<u32> {
    match get(row, name)? {
        Value::Number(number) => number.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// A signed property (WMI's SInt32).
pub fn int(row: &Row, name: &str) -> Option<i64> {
    match get(row, name)? {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

pub fn boolean(row: &Row, name: &str) -> Option<bool> {
    match get(row, name)? {
        Value::Bool(flag) => Some(*flag),
        Value::Number(number) => number.as_u64().map(|n| n != 0),
        _ => None,
    }
}

/// A date, as the AdminService writes it (ISO 8601, `2024-03-01T10:20:30Z`, with or without
/// fractions or an offset) or as WMI does (`20240301102030.000000+000`, the offset in
/// minutes), in RFC 3339 UTC to the second; `None` when it is neither, or outside 1970–9999.
pub fn date(row: &Row, name: &str) -> Option<String> {
    let value = get(row, name)?.as_str()?.trim();
    let at = OffsetDateTime::parse(value, &Rfc3339)
        .ok()
        .or_else(|| {
            // ISO 8601 without an offset: the AdminService's UTC.
            let format = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
            );
            PrimitiveDateTime::parse(value, &format)
                .ok()
                .map(PrimitiveDateTime::assume_utc)
        })
        .or_else(|| cim_datetime(value))?;
    let at = at.to_offset(UtcOffset::UTC).replace_nanosecond(0).ok()?;
    (1970..=9999)
        .contains(&at.year())
        .then(|| at.format(&Rfc3339).ok())
        .flatten()
}

/// `yyyymmddHHMMSS.mmmmmmsUUU` (CIM_DATETIME).
fn cim_datetime(value: &str) -> Option<OffsetDateTime> {
    if value.len() != 25 || !value.is_ascii() {
        return None;
    }
    let format = time::macros::format_description!("[year][month][day][hour][minute][second]");
    let local = PrimitiveDateTime::parse(&value[..14], &format).ok()?;
    let sign = match &value[21..22] {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    let minutes: i32 = value[22..].parse().ok()?;
    let offset = UtcOffset::from_whole_seconds(sign * minutes.checked_mul(60)?).ok()?;
    Some(local.assume_offset(offset))
}

/// A GUID property, as the lower-case hyphenated form.
pub fn guid(row: &Row, name: &str) -> Option<String> {
    let value = get(row, name)?.as_str()?;
    let parsed = uuid::Uuid::parse_str(value.trim().trim_start_matches("GUID:")).ok()?;
    (!parsed.is_nil()).then(|| parsed.to_string())
}

/// The admin center's version number of a site (`2207`) from its build (`5.00.9088.1000`, or
/// the build number 9088): the release that build belongs to, the nearest earlier release for a
/// build between two, `None` for builds before current branch's tenant attach (1910).
pub fn release_of_build(build: u32) -> Option<u32> {
    const RELEASES: &[(u32, u32)] = &[
        (8913, 1910),
        (8968, 2002),
        (9012, 2006),
        (9040, 2010),
        (9049, 2103),
        (9058, 2107),
        (9068, 2111),
        (9078, 2203),
        (9088, 2207),
        (9096, 2211),
        (9106, 2303),
        (9122, 2309),
        (9128, 2403),
        (9132, 2409),
        (9135, 2503),
    ];
    RELEASES
        .iter()
        .rev()
        .find(|(first_build, _)| build >= *first_build)
        .map(|(_, release)| *release)
}

/// The build number in `5.00.9088.1000`.
pub fn build_of_version(version: &str) -> Option<u32> {
    version.split('.').nth(2)?.parse().ok()
}

/// What the site knows of one device, gathered from its classes.
#[derive(Debug, Default)]
pub struct DeviceRecord {
    /// `SMS_R_System`.
    pub system: Row,
    /// `SMS_CombinedDeviceResources`, when the site has it.
    pub combined: Option<Row>,
    /// `SMS_G_System_COMPUTER_SYSTEM` (hardware inventory).
    pub computer: Option<Row>,
    /// `SMS_G_System_PC_BIOS` (hardware inventory).
    pub bios: Option<Row>,
    /// The device's collections, with their names.
    pub collections: Vec<DeviceCollection>,
    /// Its primary users' `UniqueUserName`s (`SMS_UserMachineRelationship`), sorted.
    pub primary_users: Vec<String>,
}

/// The device's id in the admin center: the client's SMS unique identifier (stable across
/// renames), or `resource:<ResourceID>` for a device the site discovered without a client.
pub fn device_id(system: &Row) -> Option<String> {
    match text(system, "SMSUniqueIdentifier") {
        Some(id) => Some(id),
        None => uint(system, "ResourceId").map(|id| format!("resource:{id}")),
    }
}

/// The ResourceID a device id names, when it names one directly.
pub fn resource_of_id(id: &str) -> Option<u32> {
    id.strip_prefix("resource:")?.parse().ok()
}

/// The device as its site uploads it, or `None` when the site sent no usable id or name.
pub fn site_device(record: &DeviceRecord) -> Option<SiteDevice> {
    let system = &record.system;
    let combined = record.combined.as_ref();
    let from_combined = |name: &str| combined.and_then(|row| text(row, name));
    let id = device_id(system)?;
    let device_name = text(system, "Name").or_else(|| from_combined("Name"))?;
    let co_managed = combined
        .and_then(|row| boolean(row, "CoManaged"))
        .unwrap_or(false);
    let managed_by = if co_managed {
        ManagedBy::CoManaged
    } else {
        ManagedBy::ConfigMgr
    };
    // DeviceOwner: 1 company, 2 personal.
    let owner_type = match combined.and_then(|row| uint(row, "DeviceOwner")) {
        Some(2) => OwnerType::Personal,
        _ => OwnerType::Company,
    };
    let os_caption =
        text(system, "OperatingSystemNameandVersion").or_else(|| from_combined("DeviceOS"));
    let operating_system = os_caption.map(|caption| {
        if caption.to_ascii_lowercase().contains("windows") {
            "Windows".to_owned()
        } else {
            caption
        }
    });
    let os_version = from_combined("DeviceOSBuild").or_else(|| text(system, "Build"));
    let primary = record.primary_users.first();
    // `CONTOSO\jdoe`, or `AzureAD\jdoe@contoso.com` for an Entra ID user: its UPN.
    let user_principal_name = primary.and_then(|name| {
        let account = name.rsplit('\\').next()?;
        account.contains('@').then(|| account.to_owned())
    });
    let client_version = text(system, "ClientVersion").or_else(|| from_combined("ClientVersion"));
    let is_client = uint(system, "Client").map(|c| c == 1).unwrap_or(false)
        || combined
            .and_then(|row| boolean(row, "IsClient"))
            .unwrap_or(false);
    let configuration_manager_client_information =
        is_client.then(|| ConfigurationManagerClientInformation {
            client_identifier: text(system, "SMSUniqueIdentifier").unwrap_or_else(|| id.clone()),
            client_version: client_version.clone(),
            is_blocked: combined
                .and_then(|row| boolean(row, "IsBlocked"))
                .unwrap_or(false),
        });
    // ClientActiveStatus: 1 active, 0 inactive.
    let client_health_state = match combined.and_then(|row| int(row, "ClientActiveStatus")) {
        Some(1) => ClientHealthState::Healthy,
        Some(0) => ClientHealthState::Unhealthy,
        _ => ClientHealthState::Unknown,
    };
    Some(SiteDevice {
        id,
        device_name,
        managed_by,
        owner_type,
        compliance_state: if co_managed {
            ComplianceState::Unknown
        } else {
            ComplianceState::ConfigManager
        },
        operating_system,
        os_version,
        user_principal_name,
        user_display_name: primary.cloned(),
        enrolled_date_time: date(system, "CreationDate"),
        serial_number: record
            .bios
            .as_ref()
            .and_then(|row| text(row, "SerialNumber")),
        manufacturer: record
            .computer
            .as_ref()
            .and_then(|row| text(row, "Manufacturer")),
        model: record.computer.as_ref().and_then(|row| text(row, "Model")),
        azure_ad_device_id: combined
            .and_then(|row| guid(row, "AADDeviceID"))
            .or_else(|| guid(system, "AADDeviceID")),
        domain_name: from_combined("Domain").or_else(|| text(system, "ResourceDomainORWorkgroup")),
        sku: None,
        configuration_manager_client_information,
        client_health_state,
        last_policy_request_date_time: combined.and_then(|row| date(row, "LastPolicyRequest")),
        last_active_date_time: combined.and_then(|row| date(row, "LastActiveTime")),
        collections: record.collections.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(value: Value) -> Row {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn dates_in_both_notations_and_nothing_else() {
        let r = row(serde_json::json!({
            "a": "2024-03-01T10:20:30Z",
            "b": "2024-03-01T10:20:30.1234567",
            "c": "20240301112030.000000+060",
            "d": "yesterday",
            "e": "0001-01-01T00:00:00Z",
            "f": 17,
        }));
        assert_eq!(date(&r, "A").as_deref(), Some("2024-03-01T10:20:30Z"));
        assert_eq!(date(&r, "b").as_deref(), Some("2024-03-01T10:20:30Z"));
        assert_eq!(date(&r, "c").as_deref(), Some("2024-03-01T10:20:30Z"));
        assert_eq!(date(&r, "d"), None);
        assert_eq!(date(&r, "e"), None);
        assert_eq!(date(&r, "f"), None);
    }

    #[test]
    fn builds_map_to_releases() {
        assert_eq!(release_of_build(9088), Some(2207));
        assert_eq!(release_of_build(9090), Some(2207));
        assert_eq!(release_of_build(9012), Some(2006));
        assert_eq!(release_of_build(8000), None);
        assert_eq!(build_of_version("5.00.9106.1000"), Some(9106));
    }

    #[test]
    fn hostile_text_is_left_out() {
        let r = row(serde_json::json!({
            "Name": "PC\u{0}01",
            "Long": "x".repeat(MAX_TEXT + 1),
            "Ok": " PC-01 ",
        }));
        assert_eq!(text(&r, "name"), None);
        assert_eq!(text(&r, "long"), None);
        assert_eq!(text(&r, "ok").as_deref(), Some("PC-01"));
    }
}
