//! What a site sends is checked field by field before anything is written: lengths, shapes and
//! dates. A site is trusted with its own devices, not with the admin center's memory, its
//! operators' browsers or its database. Every refusal is a 400 naming the field (with the
//! device's place in the upload), and nothing of the upload is written.

use admin_api::protocol::{ActionResult, SiteDevice, SiteInfo, SiteRequestOutcome};
use admin_api::site_requests::{Table, MAX_ANSWER_BYTES, MAX_SCRIPT_OUTPUT};
use admin_api::SiteAnswer;

use crate::error::{AppError, AppResult};

/// Longest id (a device's, a collection's, a client's): ConfigMgr's are GUIDs or `GUID:…` strings.
pub const MAX_ID: usize = 200;
/// Longest name or other text property of a device or site.
pub const MAX_TEXT: usize = 256;
/// Most collections one device may be reported in.
pub const MAX_COLLECTIONS: usize = 1000;
/// Longest result message of an action.
pub const MAX_MESSAGE: usize = 2000;

/// A text field: at most `max` characters, no control characters; `required` ones not blank.
fn text(field: &str, value: &str, max: usize, required: bool) -> AppResult<()> {
    if required && value.trim().is_empty() {
        return Err(AppError::bad_request(
            field,
            format!("'{field}' must not be blank."),
        ));
    }
    if value.chars().count() > max {
        return Err(AppError::bad_request(
            field,
            format!("'{field}' must be at most {max} characters."),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(AppError::bad_request(
            field,
            format!("'{field}' must not contain control characters (such as NUL or a line break)."),
        ));
    }
    Ok(())
}

fn optional(field: &str, value: Option<&str>, max: usize) -> AppResult<()> {
    value.map_or(Ok(()), |value| text(field, value, max, false))
}

/// A date-time a site sends: RFC 3339, stored as UTC (`2026-11-21T09:30:00Z`); rewritten in
/// that form so that every stored date sorts and reads the same way.
fn date(field: &str, value: &mut Option<String>) -> AppResult<()> {
    if let Some(text) = value.as_deref() {
        let stored = crate::store::stored_timestamp(text).ok_or_else(|| {
            AppError::bad_request(
                field,
                format!(
                    "'{field}' must be an RFC 3339 date-time between the years 0000 and 9999, e.g. 2026-11-21T09:30:00Z."
                ),
            )
        })?;
        *value = Some(stored);
    }
    Ok(())
}

/// A device's id, as an upload or a removal names it.
pub fn device_id(field: &str, id: &str) -> AppResult<()> {
    text(field, id, MAX_ID, true)
}

/// Checks every device of an upload (`field` names the list, e.g. `devices`), normalizing dates.
pub fn devices(field: &str, devices: &mut [SiteDevice]) -> AppResult<()> {
    for (index, device) in devices.iter_mut().enumerate() {
        one_device(&format!("{field}[{index}]"), device)?;
    }
    Ok(())
}

fn one_device(at: &str, device: &mut SiteDevice) -> AppResult<()> {
    let name = |field: &str| format!("{at}.{field}");
    device_id(&name("id"), &device.id)?;
    text(&name("deviceName"), &device.device_name, MAX_TEXT, true)?;
    for (field, value) in device.optional_texts() {
        optional(&name(field), value, MAX_TEXT)?;
    }
    date(&name("enrolledDateTime"), &mut device.enrolled_date_time)?;
    date(
        &name("lastPolicyRequestDateTime"),
        &mut device.last_policy_request_date_time,
    )?;
    date(
        &name("lastActiveDateTime"),
        &mut device.last_active_date_time,
    )?;
    if let Some(client) = &device.configuration_manager_client_information {
        let field = name("configurationManagerClientInformation");
        text(
            &format!("{field}.clientIdentifier"),
            &client.client_identifier,
            MAX_ID,
            false,
        )?;
        optional(
            &format!("{field}.clientVersion"),
            client.client_version.as_deref(),
            MAX_TEXT,
        )?;
    }
    if device.collections.len() > MAX_COLLECTIONS {
        return Err(AppError::bad_request(
            name("collections"),
            format!("A device may be in at most {MAX_COLLECTIONS} collections."),
        ));
    }
    for (index, collection) in device.collections.iter().enumerate() {
        let field = name(&format!("collections[{index}]"));
        text(&format!("{field}.id"), &collection.id, MAX_ID, true)?;
        text(&format!("{field}.name"), &collection.name, MAX_TEXT, true)?;
    }
    Ok(())
}

/// What a site reports about itself.
pub fn site(info: &mut SiteInfo) -> AppResult<()> {
    text("hierarchyName", &info.hierarchy_name, MAX_TEXT, true)?;
    text("siteCode", &info.site_code, 10, true)?;
    text("siteVersion", &info.site_version, 40, true)?;
    optional(
        "serviceConnectionPoint",
        info.service_connection_point.as_deref(),
        MAX_TEXT,
    )?;
    if let Some(admin_api::UploadScope::Collection {
        collection_id,
        collection_name,
        ..
    }) = &info.upload_scope
    {
        text("uploadScope.collectionId", collection_id, MAX_ID, true)?;
        text(
            "uploadScope.collectionName",
            collection_name,
            MAX_TEXT,
            true,
        )?;
    }
    if let Some(checks) = &mut info.connectivity_checks {
        if checks.len() > MAX_CHECKS {
            return Err(AppError::bad_request(
                "connectivityChecks",
                format!("'connectivityChecks' must have at most {MAX_CHECKS} checks."),
            ));
        }
        for (index, check) in checks.iter_mut().enumerate() {
            let field = format!("connectivityChecks[{index}]");
            text(&format!("{field}.check"), &check.check, MAX_TEXT, true)?;
            optional(
                &format!("{field}.message"),
                check.message.as_deref(),
                MAX_MESSAGE,
            )?;
            let mut at = Some(std::mem::take(&mut check.checked_date_time));
            date(&format!("{field}.checkedDateTime"), &mut at)?;
            check.checked_date_time = at.unwrap_or_default();
        }
    }
    Ok(())
}

/// Most connectivity checks one report may carry.
pub const MAX_CHECKS: usize = 20;

/// A hierarchy's id as it onboards.
pub fn hierarchy_id(id: &str) -> AppResult<()> {
    text("hierarchyId", id, 100, true)
}

/// What a client answered to an action.
pub fn action_result(result: &ActionResult) -> AppResult<()> {
    if let Some(message) = &result.result_message {
        message_text("resultMessage", message)?;
    }
    Ok(())
}

/// A message in words from a site: bounded; line breaks and tabs are its own, other control
/// characters are not.
fn message_text(field: &str, message: &str) -> AppResult<()> {
    if message.chars().count() > MAX_MESSAGE {
        return Err(AppError::bad_request(
            field,
            format!("'{field}' must be at most {MAX_MESSAGE} characters."),
        ));
    }
    if message
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(AppError::bad_request(
            field,
            format!(
                "'{field}' must not contain control characters other than line breaks and tabs."
            ),
        ));
    }
    Ok(())
}

/// How a site answered a site request: an answer or a failure (not both), within the answer's
/// bound, its tables square, its dates RFC 3339 (stored as UTC), no NUL anywhere (a script's
/// output and CMPivot's cells may hold any other text: the admin center shows them as text).
pub fn site_request_outcome(outcome: &mut SiteRequestOutcome) -> AppResult<()> {
    match (&mut outcome.answer, &outcome.failure) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(AppError::bad_request(
                "answer",
                "Send either 'answer' or 'failure', not both and not neither.",
            ))
        }
        (None, Some(failure)) => message_text("failure", failure)?,
        (Some(answer), None) => site_answer(answer)?,
    }
    optional(
        "requesterAtSite",
        outcome.requester_at_site.as_deref(),
        MAX_TEXT,
    )
}

fn site_answer(answer: &mut SiteAnswer) -> AppResult<()> {
    let json = serde_json::to_string(answer).map_err(|e| AppError::Internal(e.to_string()))?;
    if json.len() > MAX_ANSWER_BYTES {
        return Err(AppError::PayloadTooLarge(format!(
            "The answer is {} bytes of JSON; at most {MAX_ANSWER_BYTES} are kept. Send fewer rows \
             and say how many there were in 'rowCount'.",
            json.len()
        )));
    }
    if json.contains("\\u0000") {
        return Err(AppError::bad_request(
            "answer",
            "The answer must not contain NUL characters.",
        ));
    }
    match answer {
        SiteAnswer::ClientDetails(details) => {
            date(
                "answer.onlineChangedDateTime",
                &mut details.online_changed_date_time,
            )?;
            date(
                "answer.lastActiveDateTime",
                &mut details.last_active_date_time,
            )?;
            date(
                "answer.lastPolicyRequestDateTime",
                &mut details.last_policy_request_date_time,
            )?;
            date(
                "answer.lastHardwareScanDateTime",
                &mut details.last_hardware_scan_date_time,
            )?;
            date(
                "answer.lastSoftwareScanDateTime",
                &mut details.last_software_scan_date_time,
            )?;
            optional(
                "answer.clientVersion",
                details.client_version.as_deref(),
                MAX_TEXT,
            )?;
            optional(
                "answer.managementPoint",
                details.management_point.as_deref(),
                MAX_TEXT,
            )?;
            for (index, name) in details
                .boundary_groups
                .iter()
                .chain(&details.primary_users)
                .enumerate()
            {
                text(&format!("answer.names[{index}]"), name, MAX_TEXT, true)?;
            }
            for (index, collection) in details.collections.iter().enumerate() {
                text(
                    &format!("answer.collections[{index}].id"),
                    &collection.id,
                    MAX_ID,
                    true,
                )?;
                text(
                    &format!("answer.collections[{index}].name"),
                    &collection.name,
                    MAX_TEXT,
                    true,
                )?;
            }
        }
        SiteAnswer::Inventory(inventory) => {
            date(
                "answer.lastScanDateTime",
                &mut inventory.last_scan_date_time,
            )?;
            for (index, class) in inventory.classes.iter().enumerate() {
                let at = format!("answer.classes[{index}]");
                text(
                    &format!("{at}.className"),
                    &class.class_name,
                    MAX_TEXT,
                    true,
                )?;
                text(
                    &format!("{at}.displayName"),
                    &class.display_name,
                    MAX_TEXT,
                    true,
                )?;
                table(&format!("{at}.table"), &class.table)?;
            }
        }
        SiteAnswer::Scripts(scripts) => {
            for (index, script) in scripts.scripts.iter_mut().enumerate() {
                let at = format!("answer.scripts[{index}]");
                text(&format!("{at}.id"), &script.id, MAX_ID, true)?;
                text(&format!("{at}.name"), &script.name, MAX_TEXT, true)?;
                optional(&format!("{at}.author"), script.author.as_deref(), MAX_TEXT)?;
                if let Some(description) = &script.description {
                    message_text(&format!("{at}.description"), description)?;
                }
                date(
                    &format!("{at}.lastUpdatedDateTime"),
                    &mut script.last_updated_date_time,
                )?;
            }
        }
        SiteAnswer::CmPivot(result) => table("answer.table", &result.table)?,
        SiteAnswer::RunScript(run) => {
            text("answer.scriptName", &run.script_name, MAX_TEXT, true)?;
            if run.output.len() > MAX_SCRIPT_OUTPUT {
                return Err(AppError::bad_request(
                    "answer.output",
                    format!(
                        "A script's output is kept up to {MAX_SCRIPT_OUTPUT} bytes: cut it there and set 'truncated'."
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Named columns, each row as wide as the columns, and `rowCount` at least the rows sent.
fn table(at: &str, table: &Table) -> AppResult<()> {
    for (index, column) in table.columns.iter().enumerate() {
        text(&format!("{at}.columns[{index}]"), column, MAX_TEXT, true)?;
    }
    if let Some(index) = table
        .rows
        .iter()
        .position(|row| row.len() != table.columns.len())
    {
        return Err(AppError::bad_request(
            format!("{at}.rows[{index}]"),
            format!(
                "Each row has one cell per column ({}).",
                table.columns.len()
            ),
        ));
    }
    if table.row_count < table.rows.len() as u64 {
        return Err(AppError::bad_request(
            format!("{at}.rowCount"),
            "'rowCount' counts the rows the site had: at least the rows sent.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_stored_in_utc_and_anything_else_is_refused() {
        let mut value = Some("2026-11-21T10:30:00+01:00".to_owned());
        date("d", &mut value).unwrap();
        assert_eq!(value.as_deref(), Some("2026-11-21T09:30:00Z"));
        for bad in ["2026-11-21T09:3\u{e9}00Z", "yesterday", "", "2026-11-21"] {
            let mut value = Some(bad.to_owned());
            assert!(date("d", &mut value).is_err(), "{bad}");
        }
        let mut none = None;
        date("d", &mut none).unwrap();
    }

    #[test]
    fn text_is_bounded_and_has_no_control_characters() {
        assert!(text("f", "PC-001", 10, true).is_ok());
        assert!(text("f", "  ", 10, true).is_err());
        assert!(text("f", "", 10, false).is_ok());
        assert!(text("f", "a\0b", 10, false).is_err());
        assert!(text("f", &"é".repeat(10), 10, true).is_ok());
        assert!(text("f", &"é".repeat(11), 10, true).is_err());
    }
}
