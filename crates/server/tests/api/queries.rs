//! `$filter`, `$orderby`, `$search`, `$select`, `$count` and the CSV export, each checked against
//! an independent evaluation in Rust over the same rows the API returns unfiltered.

use std::cmp::Ordering;
use std::collections::HashMap;

use admin_api::devices::DEVICE_FIELDS;
use admin_api::fields::{Field, FieldType};
use admin_api::{ComplianceState, Device, ManagedBy, OwnerType};
use serde_json::Value;
use site_connector::{HierarchyConfig, SimulatedHierarchy};

use crate::{error_of, spawn_app, TestApp};

/// The two sites the tests attach, in that order.
fn hierarchies() -> [HierarchyConfig; 2] {
    let mut old = HierarchyConfig::new("Contoso Legacy", "LEG", 2006, 140, 22);
    old.co_managed_share = 0.2;
    [
        HierarchyConfig::new("Contoso Headquarters", "CHQ", 2207, 260, 21),
        old,
    ]
}

async fn app_with_devices() -> TestApp {
    let app = spawn_app().await;
    for hierarchy in hierarchies() {
        app.attach_site(hierarchy).await;
    }
    app
}

/// Where each device was uploaded when these sites attached one after the other: each site's
/// devices in the order it sent them. Ties in every order follow it (the contract's stable
/// internal sequence).
fn upload_order(sites: impl IntoIterator<Item = HierarchyConfig>) -> HashMap<String, usize> {
    sites
        .into_iter()
        .flat_map(|config| SimulatedHierarchy::new(config).devices_in_scope())
        .enumerate()
        .map(|(position, device)| (device.id, position))
        .collect()
}

/// Every page of `/api/v1/devices?{query}`, followed through `@odata.nextLink`.
async fn all_pages(app: &TestApp, query: &str) -> (Vec<Device>, Option<u64>) {
    let mut devices = Vec::new();
    let mut path = format!("/api/v1/devices?$top=37&$count=true&{query}");
    let mut count = None;
    loop {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        let page: admin_api::Collection<Device> = response.json().await.unwrap();
        count = count.or(page.count);
        assert_eq!(page.count, count, "the count is the same on every page");
        devices.extend(page.value);
        match page.next_link {
            Some(next) => path = next,
            None => return (devices, count),
        }
    }
}

fn ids(devices: &[Device]) -> Vec<&str> {
    devices.iter().map(|d| d.id.as_str()).collect()
}

fn lower(value: Option<&str>) -> Option<String> {
    value.map(str::to_ascii_lowercase)
}

/// SQLite's order: NULLs first ascending, text case-insensitively (ASCII), ties in upload order.
fn sort_by(
    devices: &mut [Device],
    key: impl Fn(&Device) -> Option<String>,
    descending: bool,
    uploaded: &HashMap<String, usize>,
) {
    devices.sort_by(|a, b| {
        let order = match (key(a), key(b)) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(&y),
        }
        .then_with(|| uploaded[&a.id].cmp(&uploaded[&b.id]));
        if descending {
            order.reverse()
        } else {
            order
        }
    });
}

#[tokio::test]
async fn filters_match_an_independent_evaluation() {
    let app = app_with_devices().await;
    let (all, total) = all_pages(&app, "").await;
    assert_eq!(total, Some(400));
    let sample = all
        .iter()
        .find(|d| d.user_principal_name.is_some())
        .unwrap()
        .clone();
    let cutoff = {
        let mut times: Vec<&str> = all
            .iter()
            .filter_map(|d| d.last_active_date_time.as_deref())
            .collect();
        times.sort();
        times[times.len() / 2].to_owned()
    };
    let upn = sample.user_principal_name.clone().unwrap();
    type Check = Box<dyn Fn(&Device) -> bool>;
    let cases: Vec<(String, Check)> = vec![
        ("managedBy eq 'coManaged'".into(), Box::new(|d| d.managed_by == ManagedBy::CoManaged)),
        ("managedBy ne 'coManaged'".into(), Box::new(|d| d.managed_by != ManagedBy::CoManaged)),
        (
            "complianceState in ('noncompliant', 'inGracePeriod')".into(),
            Box::new(|d| matches!(d.compliance_state, ComplianceState::Noncompliant | ComplianceState::InGracePeriod)),
        ),
        ("startswith(deviceName,'LEG-LT')".into(), Box::new(|d| d.device_name.starts_with("LEG-LT"))),
        ("contains(model,'book')".into(), Box::new(|d| d.model.as_deref().unwrap_or("").to_lowercase().contains("book"))),
        (format!("userPrincipalName eq '{upn}'"), Box::new(move |d| d.user_principal_name.as_deref() == Some(upn.as_str()))),
        ("userPrincipalName eq null".into(), Box::new(|d| d.user_principal_name.is_none())),
        ("userPrincipalName ne null".into(), Box::new(|d| d.user_principal_name.is_some())),
        ("siteCode eq 'LEG'".into(), Box::new(|d| d.site_code.as_deref() == Some("LEG"))),
        ("hierarchyName eq 'contoso legacy'".into(), Box::new(|_| false)),
        (
            format!("lastActiveDateTime ge {cutoff}"),
            Box::new({
                let cutoff = cutoff.clone();
                move |d| d.last_active_date_time.as_deref().is_some_and(|t| t >= cutoff.as_str())
            }),
        ),
        (
            format!("lastActiveDateTime lt {cutoff} and ownerType eq 'personal'"),
            Box::new({
                let cutoff = cutoff.clone();
                move |d| {
                    d.last_active_date_time.as_deref().is_some_and(|t| t < cutoff.as_str())
                        && d.owner_type == OwnerType::Personal
                }
            }),
        ),
        (
            "(operatingSystem eq 'Windows Server' or managedBy eq 'intune') and not siteCode eq 'CHQ'".into(),
            Box::new(|d| {
                (d.operating_system.as_deref() == Some("Windows Server") || d.managed_by == ManagedBy::Intune)
                    && d.site_code.as_deref() != Some("CHQ")
            }),
        ),
    ];
    for (filter, check) in cases {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("$filter", &filter)
            .finish();
        let (found, count) = all_pages(&app, &query).await;
        let expected: Vec<Device> = all.iter().filter(|d| check(d)).cloned().collect();
        assert_eq!(ids(&found), ids(&expected), "{filter}");
        assert_eq!(count, Some(expected.len() as u64), "{filter}");
    }
    app.shut_down().await;
}

#[tokio::test]
async fn every_order_matches_an_independent_sort_across_pages() {
    let app = app_with_devices().await;
    let (all, _) = all_pages(&app, "").await;
    let uploaded = upload_order(hierarchies());
    type Key = fn(&Device) -> Option<String>;
    let orders: Vec<(&str, Key)> = vec![
        ("deviceName", |d| Some(d.device_name.to_ascii_lowercase())),
        ("managedBy", |d| {
            Some(d.managed_by.as_str().to_ascii_lowercase())
        }),
        ("ownerType", |d| {
            Some(d.owner_type.as_str().to_ascii_lowercase())
        }),
        ("complianceState", |d| {
            Some(d.compliance_state.as_str().to_ascii_lowercase())
        }),
        ("operatingSystem", |d| lower(d.operating_system.as_deref())),
        ("osVersion", |d| lower(d.os_version.as_deref())),
        ("userPrincipalName", |d| {
            lower(d.user_principal_name.as_deref())
        }),
        ("lastSyncDateTime", |d| d.last_sync_date_time.clone()),
        ("serialNumber", |d| lower(d.serial_number.as_deref())),
        ("model", |d| lower(d.model.as_deref())),
        ("hierarchyName", |d| lower(d.hierarchy_name.as_deref())),
        ("siteCode", |d| lower(d.site_code.as_deref())),
        ("configurationManagerClientInformation/clientVersion", |d| {
            lower(
                d.configuration_manager_client_information
                    .as_ref()
                    .and_then(|c| c.client_version.as_deref()),
            )
        }),
        ("lastActiveDateTime", |d| d.last_active_date_time.clone()),
        ("azureADDeviceId", |d| {
            lower(d.azure_ad_device_id.as_deref())
        }),
    ];
    for (field, key) in orders {
        for descending in [false, true] {
            let orderby = format!("{field} {}", if descending { "desc" } else { "asc" });
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("$orderby", &orderby)
                .finish();
            let (found, _) = all_pages(&app, &query).await;
            let mut expected = all.clone();
            sort_by(&mut expected, key, descending, &uploaded);
            assert_eq!(ids(&found), ids(&expected), "{orderby}");
        }
    }
    // A filter, a search and an order together.
    let query = "$orderby=lastSyncDateTime%20desc&$filter=managedBy%20ne%20'intune'&$search=%22lt-00,srv%22";
    let (found, count) = all_pages(&app, query).await;
    let mut expected: Vec<Device> = all
        .iter()
        .filter(|d| d.managed_by != ManagedBy::Intune)
        .filter(|d| {
            let name = d.device_name.to_lowercase();
            name.contains("lt-00") || name.contains("srv")
        })
        .cloned()
        .collect();
    sort_by(
        &mut expected,
        |d| d.last_sync_date_time.clone(),
        true,
        &uploaded,
    );
    assert!(!expected.is_empty());
    assert_eq!(ids(&found), ids(&expected));
    assert_eq!(count, Some(expected.len() as u64));

    // A token of one order is refused under another.
    let page: Value = app
        .get("/api/v1/devices?$top=5&$orderby=model")
        .await
        .json()
        .await
        .unwrap();
    let token = page["@odata.nextLink"]
        .as_str()
        .unwrap()
        .split("$skiptoken=")
        .nth(1)
        .unwrap()
        .to_owned();
    let error = error_of(
        app.get(&format!("/api/v1/devices?$skiptoken={token}"))
            .await,
        400,
    )
    .await;
    assert_eq!(error["target"], "$skiptoken");
    app.shut_down().await;
}

#[tokio::test]
async fn search_matches_name_serial_or_upn_with_any_term() {
    let app = app_with_devices().await;
    let (all, _) = all_pages(&app, "").await;
    let serial = all[17].serial_number.clone().unwrap();
    let upn_part = all
        .iter()
        .find_map(|d| d.user_principal_name.clone())
        .unwrap()[..5]
        .to_uppercase();
    for terms in [
        vec!["chq-lt-00"],
        vec![serial.as_str()],
        vec![upn_part.as_str()],
        vec!["LEG-PC-001", "CHQ-SRV", "no-such-thing"],
    ] {
        let search = format!("\"{}\"", terms.join(","));
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("$search", &search)
            .finish();
        let (found, _) = all_pages(&app, &query).await;
        let expected: Vec<Device> = all
            .iter()
            .filter(|d| {
                terms.iter().any(|term| {
                    let term = term.to_lowercase();
                    [
                        Some(&d.device_name),
                        d.serial_number.as_ref(),
                        d.user_principal_name.as_ref(),
                    ]
                    .into_iter()
                    .flatten()
                    .any(|v| v.to_lowercase().contains(&term))
                })
            })
            .cloned()
            .collect();
        assert!(!expected.is_empty(), "{search}");
        assert_eq!(ids(&found), ids(&expected), "{search}");
    }
    app.shut_down().await;
}

#[tokio::test]
async fn select_trims_fields() {
    let app = app_with_devices().await;
    let page: Value = app
        .get("/api/v1/devices?$top=3&$select=deviceName,complianceState")
        .await
        .json()
        .await
        .unwrap();
    for device in page["value"].as_array().unwrap() {
        let keys: Vec<&String> = device.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 2, "{device}");
        assert!(device["deviceName"].is_string() && device["complianceState"].is_string());
    }
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.contains("$select=deviceName%2CcomplianceState"),
        "{next}"
    );
    app.shut_down().await;
}

#[tokio::test]
async fn the_export_streams_every_matching_device_as_csv() {
    let app = spawn_app().await;
    app.attach_site(HierarchyConfig::new(
        "Contoso Headquarters",
        "CHQ",
        2207,
        2600,
        23,
    ))
    .await;
    let (all, _) = {
        let mut devices = Vec::new();
        let mut path = "/api/v1/devices?$top=1000&$filter=managedBy%20eq%20'coManaged'".to_owned();
        loop {
            let page: admin_api::Collection<Device> = app.get(&path).await.json().await.unwrap();
            devices.extend(page.value);
            match page.next_link {
                Some(next) => path = next,
                None => break (devices, ()),
            }
        }
    };
    assert!(all.len() > 1000, "more than one export page: {}", all.len());
    let response = app
        .get("/api/v1/devices/export?$filter=managedBy%20eq%20'coManaged'&$select=deviceName,serialNumber,collections")
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["deviceName", "serialNumber", "collections"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), all.len());
    for (row, device) in rows.iter().zip(&all) {
        assert_eq!(&row[0], device.device_name);
        assert_eq!(&row[1], device.serial_number.as_deref().unwrap());
        assert!(row[2].contains("All Systems"));
    }
    let default_columns = app
        .get("/api/v1/devices/export?$search=%22CHQ-SRV%22")
        .await
        .text()
        .await
        .unwrap();
    assert!(default_columns.starts_with("deviceName,managedBy,ownerType,complianceState,operatingSystem,osVersion,userPrincipalName,lastSyncDateTime\n"));
    let bad = app.get("/api/v1/devices/export?$filter=nonsense").await;
    error_of(bad, 400).await;
    let bad = app.get("/api/v1/devices/export?$top=5").await;
    error_of(bad, 400).await;
    app.shut_down().await;
}

/// A search matching many devices walks the order's index (past a thousand matches here); one
/// matching few sorts its matches. Both answer the same, in every order, across pages.
#[tokio::test]
async fn broad_and_narrow_searches_answer_alike_in_every_order() {
    let app = spawn_app().await;
    let site = HierarchyConfig::new("Contoso Large", "CLG", 2207, 1300, 31);
    let uploaded = upload_order([site.clone()]);
    app.attach_site(site).await;
    let (all, _) = all_pages(&app, "").await;
    for term in ["contoso", "clg-lt-01"] {
        let matching: Vec<Device> = all
            .iter()
            .filter(|d| {
                [
                    Some(&d.device_name),
                    d.serial_number.as_ref(),
                    d.user_principal_name.as_ref(),
                ]
                .into_iter()
                .flatten()
                .any(|v| v.to_lowercase().contains(term))
            })
            .cloned()
            .collect();
        if term == "contoso" {
            assert!(matching.len() >= 1000, "a broad search: {}", matching.len());
        } else {
            assert!(!matching.is_empty() && matching.len() < 100);
        }
        for (field, descending) in [
            ("deviceName", false),
            ("model", true),
            ("lastActiveDateTime", true),
        ] {
            let orderby = format!("{field} {}", if descending { "desc" } else { "asc" });
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("$orderby", &orderby)
                .append_pair("$search", &format!("\"{term}\""))
                .finish();
            let (found, count) = all_pages(&app, &query).await;
            let mut expected = matching.clone();
            match field {
                "deviceName" => sort_by(
                    &mut expected,
                    |d| Some(d.device_name.clone()),
                    descending,
                    &uploaded,
                ),
                "model" => sort_by(&mut expected, |d| d.model.clone(), descending, &uploaded),
                _ => sort_by(
                    &mut expected,
                    |d| d.last_active_date_time.clone(),
                    descending,
                    &uploaded,
                ),
            }
            assert_eq!(ids(&found), ids(&expected), "{term} by {orderby}");
            assert_eq!(count, Some(expected.len() as u64));
        }
    }
    app.shut_down().await;
}

/// Each column of the export is computed in SQL: it must say what the device's JSON says (a string
/// as is, null as nothing, the client information as its JSON object, the collections by name in
/// order), for every selectable field, in the export's order.
#[tokio::test]
async fn every_exported_column_is_its_json_field() {
    let app = app_with_devices().await;
    let order = "$orderby=model%20desc";
    let (all, _) = all_pages(&app, order).await;
    let columns: Vec<&str> = admin_server::query::devices::selectable()
        .map(|field| field.name)
        .collect();
    let text = app
        .get(&format!(
            "/api/v1/devices/export?{order}&$select={}",
            columns.join(",")
        ))
        .await
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(reader.headers().unwrap(), columns.to_vec());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), all.len());
    let mut blocked_or_null_seen = false;
    for (row, device) in rows.iter().zip(&all) {
        let json = serde_json::to_value(device).unwrap();
        for (index, column) in columns.iter().enumerate() {
            let expected = match (&json[*column], *column) {
                (_, "collections") => device
                    .collections
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
                (Value::Null, _) => {
                    blocked_or_null_seen = true;
                    String::new()
                }
                (Value::String(text), _) => text.clone(),
                (other, _) => other.to_string(),
            };
            assert_eq!(&row[index], expected, "{column} of {}", device.id);
        }
    }
    assert!(blocked_or_null_seen, "some field was null");
    app.shut_down().await;
}

/// Devices stored while a client pages through a list never make a page repeat a device or skip
/// one that was there from the start, in orders with long runs of equal values (where the
/// tie-break decides) and with NULLs.
#[tokio::test]
async fn devices_added_while_paging_never_repeat_or_hide_another() {
    let app = spawn_app().await;
    let config = HierarchyConfig::new("Contoso", "CON", 2207, 90, 31);
    let model = SimulatedHierarchy::new(config.clone()).devices_in_scope();
    let site = app.attach_site(config).await;
    let (before, _) = all_pages(&app, "").await;
    let mut added = 0;
    for orderby in [
        "managedBy asc",
        "managedBy desc",
        "complianceState asc",
        "userPrincipalName desc",
        "lastActiveDateTime asc",
    ] {
        let mut seen: Vec<String> = Vec::new();
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("$orderby", orderby)
            .finish();
        let mut path = format!("/api/v1/devices?$top=7&{query}");
        loop {
            let response = app.get(&path).await;
            assert_eq!(response.status(), 200, "{path}");
            let page: admin_api::Collection<Device> = response.json().await.unwrap();
            seen.extend(page.value.into_iter().map(|device| device.id));
            // Between two pages the site adds three devices like existing ones (the same
            // values, so they join the runs being paged through).
            let upserts = (0..3)
                .map(|n| {
                    let mut device = model[(added + n) % model.len()].clone();
                    device.id = format!("added-{}", added + n);
                    device.device_name = format!("CON-ADDED-{:04}", added + n);
                    device
                })
                .collect();
            added += 3;
            site.upload_delta(&admin_api::protocol::DeviceDelta {
                upserts,
                removals: Vec::new(),
            })
            .await
            .unwrap();
            match page.next_link {
                Some(next) => path = next,
                None => break,
            }
        }
        let mut counted: HashMap<&str, usize> = HashMap::new();
        for id in &seen {
            *counted.entry(id).or_default() += 1;
        }
        let repeated: Vec<_> = counted.iter().filter(|(_, n)| **n > 1).collect();
        assert!(repeated.is_empty(), "{orderby}: repeated {repeated:?}");
        let missing: Vec<_> = before
            .iter()
            .filter(|device| !counted.contains_key(device.id.as_str()))
            .map(|device| &device.id)
            .collect();
        assert!(missing.is_empty(), "{orderby}: skipped {missing:?}");
    }
    app.shut_down().await;
}

/// A field's value in a device's JSON (a nested field by its path), `None` for null.
fn json_value<'a>(json: &'a Value, field: &Field) -> Option<&'a Value> {
    json.pointer(&format!("/{}", field.name))
        .filter(|value| !value.is_null())
}

/// A value as the server compares it: text case-insensitively (ASCII), date-times as they are.
fn sort_key(field: &Field, value: Option<&Value>) -> Option<String> {
    let text = value?.as_str()?;
    Some(match field.field_type {
        FieldType::DateTime => text.to_owned(),
        _ => text.to_ascii_lowercase(),
    })
}

/// Every row of the device field table, walked through what it says the API does with it:
/// stored from what the site sent, listed, ordered both ways, filtered by a value and by null,
/// selected alone and exported; so that a field added to the table is checked end to end
/// without another line here.
#[tokio::test]
async fn every_field_of_the_table_is_stored_listed_ordered_filtered_selected_and_exported() {
    let app = spawn_app().await;
    // What each site sent, as it sent it (its times are relative to when it was made).
    let mut sent: HashMap<String, Value> = HashMap::new();
    for hierarchy in hierarchies() {
        let site = app.attach_site(hierarchy).await;
        for device in site.source().lock().await.devices_in_scope() {
            sent.insert(device.id.clone(), serde_json::to_value(device).unwrap());
        }
    }
    let (all, _) = all_pages(&app, "").await;
    let uploaded = upload_order(hierarchies());
    let listed: Vec<Value> = all
        .iter()
        .map(|d| serde_json::to_value(d).unwrap())
        .collect();
    for field in DEVICE_FIELDS {
        let name = field.name;
        let top = name.split('/').next().unwrap();
        // Listed: every device has the field (null or not) where its name says.
        for json in &listed {
            assert!(json.get(top).is_some(), "{name} missing from {json}");
            if field.required {
                assert!(
                    json_value(json, field).is_some(),
                    "{name} is null in {json}"
                );
            }
        }
        if field.from_site {
            for json in &listed {
                let id = json["id"].as_str().unwrap();
                assert_eq!(
                    json_value(json, field),
                    json_value(&sent[id], field),
                    "{name} of {id} as stored and as sent"
                );
            }
        }
        if field.sortable {
            for descending in [false, true] {
                let orderby = format!("{name} {}", if descending { "desc" } else { "asc" });
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("$orderby", &orderby)
                    .finish();
                let (found, _) = all_pages(&app, &query).await;
                let mut expected = all.clone();
                sort_by(
                    &mut expected,
                    |d| sort_key(field, json_value(&serde_json::to_value(d).unwrap(), field)),
                    descending,
                    &uploaded,
                );
                assert_eq!(ids(&found), ids(&expected), "{orderby}");
            }
        }
        if field.filterable {
            let values: Vec<&Value> = listed
                .iter()
                .filter_map(|json| json_value(json, field))
                .collect();
            assert!(!values.is_empty(), "no device has {name}");
            let sample = values[values.len() / 3].clone();
            let literal = match (field.field_type, &sample) {
                (FieldType::DateTime, Value::String(text)) => text.clone(),
                (_, Value::String(text)) => admin_api::collection::odata_string(text),
                (_, other) => panic!("{name} filters on {other}"),
            };
            for (filter, matches) in [
                (
                    format!("{name} eq {literal}"),
                    Box::new(|json: &Value| json_value(json, field) == Some(&sample))
                        as Box<dyn Fn(&Value) -> bool>,
                ),
                (
                    format!("{name} eq null"),
                    Box::new(|json: &Value| json_value(json, field).is_none()),
                ),
            ] {
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("$filter", &filter)
                    .finish();
                let (found, count) = all_pages(&app, &query).await;
                let expected: Vec<&str> = listed
                    .iter()
                    .filter(|json| matches(json))
                    .map(|json| json["id"].as_str().unwrap())
                    .collect();
                assert_eq!(ids(&found), expected, "{filter}");
                assert_eq!(count, Some(expected.len() as u64), "{filter}");
            }
        }
        if field.selectable {
            let page: Value = app
                .get(&format!("/api/v1/devices?$top=1000&$select={name}"))
                .await
                .json()
                .await
                .unwrap();
            let values = page["value"].as_array().unwrap();
            assert_eq!(values.len(), listed.len(), "$select={name}");
            for (selected, json) in values.iter().zip(&listed) {
                let object = selected.as_object().unwrap();
                assert_eq!(object.len(), 1, "$select={name}: {selected}");
                assert_eq!(object.get(name), json.get(name), "$select={name}");
            }
            let csv = app
                .get(&format!("/api/v1/devices/export?$select={name}"))
                .await
                .text()
                .await
                .unwrap();
            let mut reader = csv::Reader::from_reader(csv.as_bytes());
            assert_eq!(reader.headers().unwrap(), vec![name], "export of {name}");
            assert_eq!(reader.records().count(), listed.len(), "export of {name}");
        }
    }
    app.shut_down().await;
}

/// `$search` and `$filter` are bounded at what a real search needs, each bound refused with a 400
/// naming the option, and what is just within it answered.
#[tokio::test]
async fn search_and_filter_are_bounded() {
    use admin_api::collection::{
        MAX_FILTER_DEPTH, MAX_FILTER_LENGTH, MAX_SEARCH_LENGTH, MAX_SEARCH_TERM, MAX_SEARCH_TERMS,
    };
    let app = app_with_devices().await;
    let asked = |option: &str, value: &str| {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair(option, value)
            .finish();
        format!("/api/v1/devices?$top=1&$count=true&{query}")
    };
    let quoted = |terms: &[String]| format!("\"{}\"", terms.join(","));
    let term = |length: usize| "x".repeat(length);
    let within = [
        ("$search", quoted(&[term(MAX_SEARCH_TERM)])),
        ("$search", quoted(&vec!["chq".to_owned(); MAX_SEARCH_TERMS])),
        (
            "$search",
            // Seven terms of the longest kind, and one to make the whole exactly as long as it may be.
            quoted(
                &std::iter::repeat_n(term(MAX_SEARCH_TERM), 7)
                    .chain([term(MAX_SEARCH_LENGTH - 2 - 7 - 7 * MAX_SEARCH_TERM)])
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "$filter",
            format!(
                "deviceName eq '{}'",
                term(MAX_FILTER_LENGTH - "deviceName eq ''".len())
            ),
        ),
        (
            "$filter",
            format!(
                "{}deviceName eq 'x'{}",
                "(".repeat(MAX_FILTER_DEPTH),
                ")".repeat(MAX_FILTER_DEPTH)
            ),
        ),
    ];
    for (option, value) in &within {
        let response = app.get(&asked(option, value)).await;
        assert_eq!(
            response.status(),
            200,
            "{option} of {} characters",
            value.len()
        );
    }
    let beyond = [
        (
            "$search",
            quoted(&[term(MAX_SEARCH_TERM + 1)]),
            "at most 256 characters",
        ),
        (
            "$search",
            quoted(&vec!["chq".to_owned(); MAX_SEARCH_TERMS + 1]),
            "at most 50 terms",
        ),
        (
            "$search",
            // Short terms, many more than are allowed and longer than the whole may be.
            quoted(&vec![term(40); 64]),
            "longer than 2048",
        ),
        ("$search", quoted(&[term(60_000)]), "longer than 2048"),
        (
            "$filter",
            format!(
                "deviceName eq '{}'",
                term(MAX_FILTER_LENGTH + 1 - "deviceName eq ''".len())
            ),
            "longer than 4096",
        ),
        (
            "$filter",
            format!(
                "{}deviceName eq 'x'{}",
                "(".repeat(MAX_FILTER_DEPTH + 1),
                ")".repeat(MAX_FILTER_DEPTH + 1)
            ),
            "deeper than 32",
        ),
    ];
    for (option, value, said) in &beyond {
        let error = error_of(app.get(&asked(option, value)).await, 400).await;
        assert_eq!(error["target"], *option, "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(said), "{option}: {message}");
    }
    app.shut_down().await;
}

/// `$search` looks in the field table's searched fields, and the trigram index of each backend
/// covers exactly their columns (SQLite's FTS5 table, PostgreSQL's GIN index).
#[tokio::test]
async fn the_search_indexes_cover_the_searched_fields() {
    use admin_server::store::{db, Store};
    let searched: Vec<&str> =
        admin_server::store::devices::statements::searched_columns().collect();
    assert_eq!(
        searched,
        ["device_name", "user_principal_name", "serial_number"]
    );
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::connect(&format!("sqlite:{}", dir.path().join("s.db").display()))
        .await
        .unwrap();
    let mut indexed: Vec<String> =
        db::query_scalar("SELECT name FROM pragma_table_info('devices_search')")
            .fetch_all(sqlite.writer())
            .await
            .unwrap();
    indexed.sort();
    let mut expected: Vec<String> = searched.iter().map(|c| (*c).to_owned()).collect();
    expected.sort();
    assert_eq!(indexed, expected, "SQLite's trigram table");
    sqlite.close().await;

    let url = admin_server::testing::postgres::shared()
        .await
        .new_database()
        .await
        .unwrap();
    let pg = Store::connect(&url).await.unwrap();
    let definition: String =
        db::query_scalar("SELECT indexdef FROM pg_indexes WHERE indexname = 'devices_search'")
            .fetch_one(pg.writer())
            .await
            .unwrap();
    let mut indexed: Vec<String> = definition
        .split("search_fold(")
        .skip(1)
        .map(|rest| rest.split(')').next().unwrap().to_owned())
        .collect();
    indexed.sort();
    assert_eq!(
        indexed, expected,
        "PostgreSQL's trigram index: {definition}"
    );
    pg.close().await;
}
