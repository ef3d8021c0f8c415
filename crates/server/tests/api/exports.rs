//! The CSV export as browsers fetch it (compressed) and as a client that stops reading holds it:
//! whole through every encoding, and never at the others' expense.

use std::time::Duration;

use admin_api::identity::READ_ONLY_OPERATOR;
use site_connector::HierarchyConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{decoded, error_of, spawn_app_with, TestApp, PASSWORD};

/// `@odata.count` of the devices matching `filter` (URL-encoded, may be empty).
async fn count(app: &TestApp, filter: &str) -> u64 {
    let page: admin_api::Collection<admin_api::Device> = app
        .get(&format!("/api/v1/devices?$top=1&$count=true{filter}"))
        .await
        .json()
        .await
        .unwrap();
    page.count.unwrap()
}

/// The export's body as the browser receives it with `Accept-Encoding: <encoding>`, decoded.
async fn export_encoded(app: &TestApp, query: &str, encoding: &str) -> String {
    let response = app
        .client
        .get(format!("{}/api/v1/devices/export?{query}", app.url))
        .header("accept-encoding", encoding)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-encoding"],
        encoding,
        "the export went through the compression layer"
    );
    let bytes = response.bytes().await.expect("the whole body arrives");
    decoded(encoding, &bytes)
}

#[tokio::test]
async fn the_export_is_whole_through_gzip_and_brotli() {
    let app = spawn_app_with(|_| {}).await;
    app.attach_site(HierarchyConfig::new(
        "Contoso Headquarters",
        "CHQ",
        2207,
        3120,
        41,
    ))
    .await;
    let all = count(&app, "").await;
    assert_eq!(all, 3120);
    let windows = "&$filter=operatingSystem%20eq%20'Windows'";
    let some = count(&app, windows).await;
    for encoding in ["gzip", "br"] {
        let text = export_encoded(&app, "", encoding).await;
        assert_eq!(
            text.lines().count() as u64,
            all + 1,
            "{encoding}: every row"
        );
        assert!(text.ends_with('\n'), "{encoding}: the last row is whole");
        let text = export_encoded(&app, &windows[1..], encoding).await;
        assert_eq!(
            text.lines().count() as u64,
            some + 1,
            "{encoding}: filtered"
        );
        let empty = export_encoded(
            &app,
            "$filter=deviceName%20eq%20'no%20such%20device'",
            encoding,
        )
        .await;
        assert_eq!(
            empty,
            "deviceName,managedBy,ownerType,complianceState,operatingSystem,osVersion,userPrincipalName,lastSyncDateTime\n",
            "{encoding}: no match is the header alone"
        );
    }
    // Panicking connection tasks would have failed requests made after them; the server still
    // answers a plain export in full.
    let plain = app
        .get("/api/v1/devices/export")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(plain.lines().count() as u64, all + 1);
    app.shut_down().await;
}

/// An export whose client sends the request, reads the answer's head and then reads nothing:
/// its socket's receive buffer is made small so that the server soon cannot write more.
struct StalledExport {
    stream: tokio::net::TcpStream,
    status: u16,
}

async fn stalled_export(app: &TestApp, cookie: &str) -> StalledExport {
    let address = app.url.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    // Every column, so that each device is a long row.
    let request = format!(
        "GET /api/v1/devices/export?$select={} HTTP/1.1\r\nHost: {address}\r\nCookie: {cookie}\r\n\r\n",
        admin_server::query::devices::selectable()
            .map(|field| field.name)
            .collect::<Vec<_>>()
            .join(",")
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = stream.read_u8().await.unwrap();
        head.push(byte);
    }
    let head = String::from_utf8(head).unwrap();
    let status = head[9..12].parse().unwrap();
    StalledExport { stream, status }
}

#[tokio::test]
async fn stalled_exports_starve_no_one_and_are_ended() {
    let app = spawn_app_with(|c| c.export_stall_timeout = Duration::from_secs(3)).await;
    let site = app
        .attach_site(HierarchyConfig::new(
            "Contoso Headquarters",
            "CHQ",
            2207,
            12_000,
            42,
        ))
        .await;
    let mut cookies = Vec::new();
    for n in 0..5 {
        let user = format!("reader{n}@tests.example");
        app.add_user(&user, &[READ_ONLY_OPERATOR]).await;
        cookies.push(app.session_cookie(&user).await);
    }
    // Five readers each start an export and stop reading: the server runs as many as its
    // limit allows, and refuses the rest at once.
    let mut stalled = Vec::new();
    for cookie in &cookies {
        stalled.push(stalled_export(&app, cookie).await);
    }
    let running = stalled.iter().filter(|s| s.status == 200).count();
    assert_eq!(running, admin_server::turns::EXPORTS_AT_ONCE);
    assert!(stalled.iter().all(|s| s.status == 200 || s.status == 429));
    // One user's second export is refused while the first is held.
    let again = reqwest::Client::new()
        .get(format!("{}/api/v1/devices/export", app.url))
        .header("cookie", &cookies[0])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(again, 429).await["code"], "tooManyRequests");

    // Everyone else is served: sign-in, the session check, lists, the connector protocol.
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/session", app.url))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .json(&serde_json::json!({"userName": crate::ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "sign-in");
    assert_eq!(app.get("/api/v1/me").await.status(), 200, "/me");
    assert_eq!(app.get("/api/v1/connectors").await.status(), 200);
    assert_eq!(app.get("/api/v1/devices?$count=true").await.status(), 200);
    site.client()
        .heartbeat()
        .await
        .expect("a heartbeat is answered");

    // Past the stall timeout the held exports are ended and their places given back: each user
    // whose export was held can export again (whole), and a stalled body ends in an error, not a
    // short CSV. Every held export is seen ended before its body is read: one read before its
    // timeout would resume, complete and keep its connection open.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for (cookie, _) in cookies
        .iter()
        .zip(&stalled)
        .filter(|(_, s)| s.status == 200)
    {
        loop {
            let response = reqwest::Client::new()
                .get(format!("{}/api/v1/devices/export", app.url))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            if response.status() == 200 {
                let text = response.text().await.unwrap();
                assert_eq!(text.lines().count(), 12_001);
                break;
            }
            assert_eq!(response.status(), 429);
            assert!(
                tokio::time::Instant::now() < deadline,
                "a stalled export was never ended"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for export in stalled.into_iter().filter(|s| s.status == 200) {
        let mut stream = export.stream;
        let mut rest = Vec::new();
        // The server ends the connection once what it had written is read: the chunked body has
        // no final zero-length chunk.
        let read = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut rest))
            .await
            .expect("the connection ends");
        let _ = read;
        assert!(
            !rest.ends_with(b"\r\n0\r\n\r\n"),
            "a stalled export does not end as if complete"
        );
    }
    app.shut_down().await;
}
