use std::collections::HashSet;

use admin_api::{Collection, Device};

use site_connector::HierarchyConfig;

use crate::{error_of, spawn_app, TestApp};

/// An app with two sites attached: 360 devices in all.
async fn app_with_devices() -> TestApp {
    let app = spawn_app().await;
    app.attach_site(HierarchyConfig::new(
        "Contoso Headquarters",
        "CHQ",
        2207,
        240,
        1,
    ))
    .await;
    app.attach_site(HierarchyConfig::new("Contoso Europe", "EUR", 2010, 120, 2))
        .await;
    app
}

async fn page(app: &crate::TestApp, path: &str) -> Collection<Device> {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn lists_every_device_once_in_name_order_through_keyset_pages() {
    let app = app_with_devices().await;
    let mut names = Vec::new();
    let mut ids = HashSet::new();
    let mut path = "/api/v1/devices?$top=100&$count=true".to_owned();
    let mut pages = 0;
    let total = loop {
        let page = page(&app, &path).await;
        pages += 1;
        let count = page.count.expect("$count=true is kept on every page");
        assert!(page.value.len() <= 100);
        for device in &page.value {
            assert!(ids.insert(device.id.clone()), "{} seen twice", device.id);
            names.push(device.device_name.to_lowercase());
        }
        match page.next_link {
            Some(next) => {
                assert!(next.starts_with("/api/v1/devices?"), "{next}");
                assert!(next.contains("$skiptoken="), "{next}");
                path = next;
            }
            None => break count,
        }
    };
    let stored: i64 = app.rows("devices").await;
    assert!(stored > 100, "the demo tenant has several pages");
    assert_eq!(total, stored as u64);
    assert_eq!(ids.len() as u64, total);
    assert_eq!(pages, (stored as usize).div_ceil(100));
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "deviceName asc across pages");
    app.shut_down().await;
}

#[tokio::test]
async fn the_first_page_has_fifty_devices_and_no_count_unless_asked() {
    let app = app_with_devices().await;
    let response = app.get("/api/v1/devices").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["value"].as_array().unwrap().len(), 50);
    assert!(body.get("@odata.count").is_none());
    assert!(body["@odata.nextLink"].is_string());
    let first = &body["value"][0];
    for field in [
        "deviceName",
        "managedBy",
        "complianceState",
        "configurationManagerClientInformation",
        "collections",
        "hierarchyName",
        "siteCode",
    ] {
        assert!(first.get(field).is_some(), "{field} missing in {first}");
    }
    app.shut_down().await;
}

#[tokio::test]
async fn an_empty_tenant_lists_nothing_without_a_next_link() {
    let app = spawn_app().await;
    let page = page(&app, "/api/v1/devices?$count=true").await;
    assert!(page.value.is_empty());
    assert_eq!(page.count, Some(0));
    assert_eq!(page.next_link, None);
    app.shut_down().await;
}

#[tokio::test]
async fn gets_one_device_by_id() {
    let app = app_with_devices().await;
    let listed = page(&app, "/api/v1/devices?$top=3").await.value;
    let response = app.get(&format!("/api/v1/devices/{}", listed[2].id)).await;
    assert_eq!(response.status(), 200);
    let device: Device = response.json().await.unwrap();
    assert_eq!(device, listed[2]);
    app.shut_down().await;
}

#[tokio::test]
async fn an_unknown_device_id_is_not_found() {
    let app = app_with_devices().await;
    let error = error_of(app.get("/api/v1/devices/no-such-device").await, 404).await;
    assert_eq!(error["code"], "notFound");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("no-such-device"));
    app.shut_down().await;
}

#[tokio::test]
async fn bad_query_options_are_rejected_with_their_name_as_target() {
    let app = app_with_devices().await;
    for (query, target) in [
        ("$foo=1", "$foo"),
        ("top=5", "top"),
        ("$top=0", "$top"),
        ("$top=1001", "$top"),
        ("$top=ten", "$top"),
        ("$top=5&$top=6", "$top"),
        ("$count=yes", "$count"),
        ("$skiptoken=tampered", "$skiptoken"),
        ("$filter=color eq 'x'", "$filter"),
        ("$filter=deviceName eq", "$filter"),
        ("$orderby=color", "$orderby"),
        ("$select=deviceName,color", "$select"),
        ("$search=\"\"", "$search"),
    ] {
        let error = error_of(app.get(&format!("/api/v1/devices?{query}")).await, 400).await;
        assert_eq!(error["code"], "badRequest", "{query}");
        assert_eq!(error["target"], target, "{query}");
    }
    app.shut_down().await;
}
