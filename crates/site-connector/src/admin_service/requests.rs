//! Site requests at a real site, through what its AdminService offers (docs/attach-a-site.md
//! says which document each call follows and what was inferred):
//! - client details: `v1.0/Device({ResourceID})` and its `ResourceCollectionMembership`;
//! - resource explorer: the `SMS_G_System_*` classes of the `wmi/` route, filtered by ResourceID;
//! - scripts: `wmi/SMS_Scripts`, approved (ApprovalState 3) and without parameters;
//! - CMPivot: `v1.0/Device({id})/AdminService.RunCMPivot`, then `AdminService.CMPivotResult`
//!   until the client answers (`SMS_CMPivotStatus` says why it could not);
//! - a script: `v1.0/Device({id})/AdminService.RunScript`, then `AdminService.ScriptResult`.
//!
//! Every text the site sends is bounded; what does not fit the answer is cut by the work loop.

use std::time::Duration;

use admin_api::collection::odata_string;
use admin_api::protocol::{SiteRequestOutcome, SiteRequestWork};
use admin_api::site_requests::{
    ClientDetails, Inventory, InventoryClass, QueryResult, ScriptOutput, SiteScript, SiteScripts,
    Table, MAX_SCRIPT_OUTPUT,
};
use admin_api::{DeviceCollection, SiteAnswer, SiteRequestKind};
use serde_json::{json, Value};

use super::wmi::{self, Row};
use super::{AdminService, AdminServiceError};

/// The hardware inventory classes resource explorer shows first, in this order; the site's other
/// `SMS_G_System_*` classes follow.
pub const INVENTORY_CLASSES: &[&str] = &[
    "SMS_G_System_COMPUTER_SYSTEM",
    "SMS_G_System_OPERATING_SYSTEM",
    "SMS_G_System_PC_BIOS",
    "SMS_G_System_PROCESSOR",
    "SMS_G_System_PHYSICAL_MEMORY",
    "SMS_G_System_LOGICAL_DISK",
    "SMS_G_System_NETWORK_ADAPTER_CONFIGURATION",
    "SMS_G_System_INSTALLED_SOFTWARE",
];

/// Most inventory classes read for one device (a site defines a few dozen).
const MAX_CLASSES: usize = 100;
/// Most rows read from one class.
const MAX_CLASS_ROWS: usize = 5_000;
/// Most rows read from a CMPivot result.
const MAX_RESULT_ROWS: usize = 10_000;

/// Properties of an inventory row that are the site's bookkeeping, not the device's.
const BOOKKEEPING: &[&str] = &[
    "ResourceID",
    "GroupID",
    "RevisionID",
    "AgentID",
    "TimeStamp",
];

/// How a request is followed at the site.
#[derive(Debug, Clone, Copy)]
pub struct Following {
    /// How often a CMPivot or script operation's result is asked for.
    pub every: Duration,
    /// When a CMPivot query or a script that the client never answers is given up.
    pub deadline: Duration,
}

/// The site's answer to `request` for the device at `resource`; `None` when the client never
/// answered before the deadline (the admin center times the request out).
pub async fn answer(
    service: &AdminService,
    request: &SiteRequestWork,
    resource: u32,
    seen: Option<String>,
    following: Following,
) -> Option<SiteRequestOutcome> {
    let page = request.kind.page();
    let answered = |answer| Some(SiteRequestOutcome::answered(answer, seen.clone()));
    let refused = |error: AdminServiceError| {
        Some(SiteRequestOutcome::failed(format!(
            "The site refused {page}: {error}"
        )))
    };
    match request.kind {
        SiteRequestKind::ClientDetails => match client_details(service, resource).await {
            Ok(details) => answered(SiteAnswer::ClientDetails(details)),
            Err(error) => refused(error),
        },
        SiteRequestKind::Inventory => match inventory(service, resource).await {
            Ok(inventory) => answered(SiteAnswer::Inventory(inventory)),
            Err(error) => refused(error),
        },
        SiteRequestKind::Scripts => match approved_scripts(service, None).await {
            Ok(scripts) => answered(SiteAnswer::Scripts(SiteScripts { scripts })),
            Err(error) => refused(error),
        },
        SiteRequestKind::CmPivot | SiteRequestKind::RunScript => {
            match online(service, resource).await {
                Ok(Some(reason)) => {
                    return Some(SiteRequestOutcome::failed(format!(
                        "{reason} {page} runs only on a device that is online now."
                    )))
                }
                Ok(None) => {}
                Err(error) => return refused(error),
            }
            let ran = if request.kind == SiteRequestKind::CmPivot {
                let query = request.query.as_deref().unwrap_or_default();
                cmpivot(service, resource, query, following)
                    .await
                    .map(|ran| {
                        ran.map(|table| {
                            table.map(|table| SiteAnswer::CmPivot(QueryResult { table }))
                        })
                    })
            } else {
                let id = request.script_id.as_deref().unwrap_or_default();
                run_script(service, resource, id, following)
                    .await
                    .map(|ran| ran.map(|run| run.map(SiteAnswer::RunScript)))
            };
            match ran {
                Ok(Ok(Some(answer))) => answered(answer),
                Ok(Ok(None)) => None,
                Ok(Err(reason)) => Some(SiteRequestOutcome::failed(reason)),
                Err(error) => refused(error),
            }
        }
    }
}

/// The device's row of the versioned route.
async fn device(service: &AdminService, resource: u32) -> Result<Row, AdminServiceError> {
    match service.get_v1(&format!("Device({resource})")).await? {
        Value::Object(row) => Ok(row),
        _ => Err(AdminServiceError::Invalid(format!(
            "Device({resource}): not an object"
        ))),
    }
}

/// Why the client cannot run something now (offline since when), or `None` when it is online.
async fn online(
    service: &AdminService,
    resource: u32,
) -> Result<Option<String>, AdminServiceError> {
    let row = device(service, resource).await?;
    let name = wmi::text(&row, "Name").unwrap_or_else(|| format!("The device {resource}"));
    Ok(match wmi::boolean(&row, "CNIsOnline") {
        Some(false) => Some(match wmi::date(&row, "CNLastOfflineTime") {
            Some(since) => format!("{name} has been offline since {since}."),
            None => format!("{name} is offline."),
        }),
        _ => None,
    })
}

async fn client_details(
    service: &AdminService,
    resource: u32,
) -> Result<ClientDetails, AdminServiceError> {
    let row = device(service, resource).await?;
    let online = wmi::boolean(&row, "CNIsOnline");
    let changed = match online {
        Some(true) => wmi::date(&row, "CNLastOnlineTime"),
        _ => wmi::date(&row, "CNLastOfflineTime"),
    };
    let names = |name: &str| -> Vec<String> {
        match wmi::get(&row, name) {
            Some(Value::Array(values)) => values
                .iter()
                .filter_map(Value::as_str)
                .filter_map(clean_name)
                .take(100)
                .collect(),
            Some(Value::String(list)) => list.split(',').filter_map(clean_name).take(100).collect(),
            _ => Vec::new(),
        }
    };
    let memberships = service
        .get_v1(&format!(
            "Device({resource})/ResourceCollectionMembership?$expand=Collection&$select=Collection"
        ))
        .await?;
    let collections = memberships
        .get("value")
        .and_then(Value::as_array)
        .map(|rows| {
            rows.iter()
                .filter_map(|row| row.get("Collection")?.as_object())
                .filter_map(|collection| {
                    Some(DeviceCollection {
                        id: wmi::text(collection, "CollectionId")?,
                        name: wmi::text(collection, "Name")?,
                    })
                })
                .take(1_000)
                .collect()
        })
        .unwrap_or_default();
    Ok(ClientDetails {
        online,
        online_changed_date_time: changed,
        client_version: wmi::text(&row, "ClientVersion"),
        client_active: wmi::boolean(&row, "ClientActiveStatus"),
        last_active_date_time: wmi::date(&row, "LastActiveTime"),
        last_policy_request_date_time: wmi::date(&row, "LastPolicyRequest"),
        last_hardware_scan_date_time: wmi::date(&row, "LastHardwareScan"),
        last_software_scan_date_time: wmi::date(&row, "LastSoftwareScan"),
        management_point: wmi::text(&row, "LastMPServerName"),
        boundary_groups: names("BoundaryGroups"),
        primary_users: names("PrimaryUser"),
        collections,
    })
}

fn clean_name(name: &str) -> Option<String> {
    let name = name.trim();
    (!name.is_empty()
        && name.chars().count() <= wmi::MAX_TEXT
        && !name.chars().any(char::is_control))
    .then(|| name.to_owned())
}

async fn inventory(service: &AdminService, resource: u32) -> Result<Inventory, AdminServiceError> {
    let offered = service.wmi_classes().await?;
    let mut classes: Vec<String> = INVENTORY_CLASSES
        .iter()
        .filter(|name| offered.iter().any(|o| o.eq_ignore_ascii_case(name)))
        .map(|name| (*name).to_owned())
        .collect();
    let mut others: Vec<&String> = offered
        .iter()
        .filter(|name| {
            name.len() > "SMS_G_System_".len()
                && name[.."SMS_G_System_".len()].eq_ignore_ascii_case("SMS_G_System_")
                && !INVENTORY_CLASSES
                    .iter()
                    .any(|known| known.eq_ignore_ascii_case(name))
        })
        .collect();
    others.sort();
    classes.extend(others.into_iter().cloned());
    classes.truncate(MAX_CLASSES);
    let mut read = Vec::new();
    let mut last_scan: Option<String> = None;
    for class_name in classes {
        let rows = service
            .query(
                &class_name,
                &[],
                Some(&format!("ResourceID eq {resource}")),
                Some(MAX_CLASS_ROWS),
            )
            .await?;
        if rows.is_empty() {
            continue;
        }
        for row in &rows {
            if let Some(at) = wmi::date(row, "TimeStamp") {
                if last_scan.as_ref().is_none_or(|last| *last < at) {
                    last_scan = Some(at);
                }
            }
        }
        read.push(InventoryClass {
            display_name: display_name(&class_name),
            table: table(&rows, BOOKKEEPING),
            class_name,
        });
    }
    Ok(Inventory {
        last_scan_date_time: last_scan,
        classes: read,
    })
}

/// `SMS_G_System_LOGICAL_DISK` → "Logical Disk".
pub fn display_name(class_name: &str) -> String {
    let words = class_name
        .get("SMS_G_System_".len()..)
        .filter(|_| class_name.len() > "SMS_G_System_".len())
        .unwrap_or(class_name);
    words
        .split('_')
        .filter(|word| !word.is_empty())
        .map(|word| {
            let lower = word.to_lowercase();
            match lower.as_str() {
                "bios" | "pc" | "os" | "cpu" | "usb" | "ide" | "scsi" | "tpm" => {
                    word.to_uppercase()
                }
                _ => {
                    let mut chars = lower.chars();
                    chars
                        .next()
                        .map(|first| first.to_uppercase().chain(chars).collect())
                        .unwrap_or_default()
                }
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

/// Rows of JSON objects as a table of text: the columns in the order first seen, without the
/// properties `leave_out` names or the service's own (`@odata…`, `__…`).
pub fn table(rows: &[Row], leave_out: &[&str]) -> Table {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        for key in row.keys() {
            let own = key.starts_with('@') || key.starts_with("__");
            if !own
                && !leave_out.iter().any(|l| l.eq_ignore_ascii_case(key))
                && !columns.contains(key)
                && columns.len() < 200
            {
                columns.push(key.clone());
            }
        }
    }
    let rows: Vec<Vec<Option<String>>> = rows
        .iter()
        .map(|row| columns.iter().map(|c| cell(row.get(c))).collect())
        .collect();
    Table {
        row_count: rows.len() as u64,
        columns,
        rows,
    }
}

/// A value as text: strings as they are, numbers and booleans written out, lists and objects as
/// JSON; each at most 4,096 characters.
fn cell(value: Option<&Value>) -> Option<String> {
    let text = match value? {
        Value::Null => return None,
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    Some(text.chars().take(4_096).collect())
}

/// The site's approved scripts without parameters (`only`: the one with that id).
async fn approved_scripts(
    service: &AdminService,
    only: Option<&str>,
) -> Result<Vec<SiteScript>, AdminServiceError> {
    let mut filter = "ApprovalState eq 3".to_owned();
    if let Some(id) = only {
        filter.push_str(&format!(" and ScriptGuid eq {}", odata_string(id)));
    }
    let rows = service
        .query(
            "SMS_Scripts",
            &[
                "ScriptGuid",
                "ScriptName",
                "Author",
                "Comment",
                "LastUpdateTime",
                "ParamsDefinition",
            ],
            Some(&filter),
            Some(1_000),
        )
        .await?;
    Ok(rows
        .iter()
        .filter(|row| {
            wmi::get(row, "ParamsDefinition")
                .and_then(Value::as_str)
                .is_none_or(|params| params.trim().is_empty())
        })
        .filter_map(|row| {
            Some(SiteScript {
                id: wmi::text(row, "ScriptGuid")?,
                name: wmi::text(row, "ScriptName")?,
                author: wmi::text(row, "Author"),
                description: wmi::text(row, "Comment"),
                last_updated_date_time: wmi::date(row, "LastUpdateTime"),
            })
        })
        .collect())
}

/// The operation id in an action's answer: `{"value": 5}` or `{"value": {"OperationId": 5}}`.
fn operation_of(answer: &Value) -> Option<u64> {
    let value = answer.get("value").unwrap_or(answer);
    value
        .as_u64()
        .or_else(|| value.get("OperationId").and_then(Value::as_u64))
}

/// Asks for an operation's result until it is there (`Ok(Some)`), the deadline passes
/// (`Ok(None)`), or `failed` says why it never will be (`Err` with the reason).
async fn result_of<F, Fut>(
    service: &AdminService,
    path: &str,
    following: Following,
    mut failed: F,
) -> Result<Result<Option<Value>, String>, AdminServiceError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>, AdminServiceError>>,
{
    let until = tokio::time::Instant::now() + following.deadline;
    loop {
        match service.get_v1(path).await {
            Ok(answer) => {
                let value = answer.get("value").cloned().unwrap_or(answer);
                if value.get("Result").is_some_and(|r| !r.is_null()) {
                    return Ok(Ok(Some(value)));
                }
            }
            // Not there yet: the client has not answered.
            Err(error) if error.status() == Some(reqwest::StatusCode::NOT_FOUND) => {}
            Err(error) => return Err(error),
        }
        if let Some(reason) = failed().await? {
            return Ok(Err(reason));
        }
        if tokio::time::Instant::now() >= until {
            return Ok(Ok(None));
        }
        let wait = following
            .every
            .min(until.saturating_duration_since(tokio::time::Instant::now()));
        tokio::time::sleep(wait).await;
    }
}

async fn cmpivot(
    service: &AdminService,
    resource: u32,
    query: &str,
    following: Following,
) -> Result<Result<Option<Table>, String>, AdminServiceError> {
    let started = service
        .post_v1(
            &format!("Device({resource})/AdminService.RunCMPivot"),
            &json!({ "InputQuery": query }),
        )
        .await?;
    let Some(operation) = operation_of(&started) else {
        return Ok(Err(
            "The site started no CMPivot operation (its answer named none).".into(),
        ));
    };
    let status = || async move {
        let rows = service
            .query(
                "SMS_CMPivotStatus",
                &["ClientOperationId", "ErrorMessage", "State"],
                Some(&format!("ClientOperationId eq {operation}")),
                Some(1),
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|row| {
                wmi::get(row, "ErrorMessage")?
                    .as_str()
                    .map(str::trim)
                    .map(str::to_owned)
            })
            .filter(|message| !message.is_empty())
            .map(|message| {
                format!(
                    "CMPivot: {}",
                    message.chars().take(2_000).collect::<String>()
                )
            }))
    };
    let result = result_of(
        service,
        &format!("Device({resource})/AdminService.CMPivotResult(OperationId={operation})"),
        following,
        status,
    )
    .await?;
    Ok(result.map(|value| {
        value.map(|value| {
            let rows: Vec<Row> = value
                .get("Result")
                .and_then(Value::as_array)
                .map(|rows| {
                    rows.iter()
                        .take(MAX_RESULT_ROWS)
                        .filter_map(|row| row.as_object().cloned())
                        .collect()
                })
                .unwrap_or_default();
            table(&rows, &[])
        })
    }))
}

async fn run_script(
    service: &AdminService,
    resource: u32,
    id: &str,
    following: Following,
) -> Result<Result<Option<ScriptOutput>, String>, AdminServiceError> {
    // Only what the site approved, without parameters, runs from the admin center.
    let Some(script) = approved_scripts(service, Some(id))
        .await?
        .into_iter()
        .next()
    else {
        return Ok(Err(format!(
            "The site has no approved script without parameters with id '{id}' (it may have been deleted or its approval withdrawn)."
        )));
    };
    let started = service
        .post_v1(
            &format!("Device({resource})/AdminService.RunScript"),
            &json!({ "ScriptGuid": script.id }),
        )
        .await?;
    let Some(operation) = operation_of(&started) else {
        return Ok(Err(format!(
            "The site started no operation for {} (its answer named none).",
            script.name
        )));
    };
    let result = result_of(
        service,
        &format!("Device({resource})/AdminService.ScriptResult(OperationId={operation})"),
        following,
        || async { Ok(None) },
    )
    .await?;
    Ok(result.map(|value| {
        value.map(|value| {
            let first = value
                .get("Result")
                .and_then(Value::as_array)
                .and_then(|rows| rows.first())
                .cloned()
                .unwrap_or(Value::Null);
            let exit_code = first.get("ScriptExitCode").and_then(Value::as_i64);
            let output = match first.get("ScriptOutput") {
                Some(Value::String(text)) => script_text(text),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            let truncated = output.len() > MAX_SCRIPT_OUTPUT;
            ScriptOutput {
                script_name: script.name,
                exit_code,
                output,
                truncated,
            }
        })
    }))
}

/// A script's output as the site keeps it: often a JSON list of the lines it wrote.
fn script_text(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(lines)) => lines
            .iter()
            .map(|line| match line {
                Value::String(line) => line.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_read_as_resource_explorer_shows_them() {
        assert_eq!(display_name("SMS_G_System_LOGICAL_DISK"), "Logical Disk");
        assert_eq!(display_name("SMS_G_System_PC_BIOS"), "PC BIOS");
        assert_eq!(
            display_name("SMS_G_System_NETWORK_ADAPTER_CONFIGURATION"),
            "Network Adapter Configuration"
        );
        assert_eq!(display_name("SMS_G_System_"), "Sms G System");
    }

    #[test]
    fn rows_become_a_table_of_text_without_bookkeeping() {
        let rows: Vec<Row> = vec![
            json!({"ResourceID": 1, "@odata.etag": "x", "DeviceID": "C:", "Size": 512, "Tags": ["a"]}),
            json!({"ResourceID": 1, "DeviceID": "D:", "FreeSpace": null, "Compressed": false}),
        ]
        .into_iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
        let table = table(&rows, BOOKKEEPING);
        assert_eq!(table.columns.len(), 5, "{:?}", table.columns);
        assert!(!table
            .columns
            .iter()
            .any(|c| c == "ResourceID" || c.starts_with('@')));
        let size = table.columns.iter().position(|c| c == "Size").unwrap();
        assert_eq!(table.rows[0][size].as_deref(), Some("512"));
        assert_eq!(table.rows[1][size], None);
        let tags = table.columns.iter().position(|c| c == "Tags").unwrap();
        assert_eq!(table.rows[0][tags].as_deref(), Some("[\"a\"]"));
    }

    #[test]
    fn a_scripts_lines_are_read_from_the_list_the_site_keeps() {
        assert_eq!(
            script_text(r#"["C:  12 GB free","done"]"#),
            "C:  12 GB free\ndone"
        );
        assert_eq!(script_text("plain text"), "plain text");
        assert_eq!(operation_of(&json!({"value": 7})), Some(7));
        assert_eq!(operation_of(&json!({"value": {"OperationId": 8}})), Some(8));
        assert_eq!(operation_of(&json!({"value": "x"})), None);
    }
}
