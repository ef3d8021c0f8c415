//! Connections held open for free, tried with raw sockets: a request whose headers stop part-way,
//! a body that stops arriving, a connection left idle, and more connections than the server
//! allows. Each is closed (or answered) in time while honest clients are answered meanwhile, and
//! the long-held requests (event streams, sites' long polls) go on.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::protocol::quick_site;
use crate::{spawn_app_with, TestApp};

const HEADERS: Duration = Duration::from_secs(1);
const BODY: Duration = Duration::from_secs(1);
const IDLE: Duration = Duration::from_secs(3);
/// Past its timeout, how long a connection may take to be closed before the test gives up.
const GRACE: Duration = Duration::from_secs(5);

fn address(app: &TestApp) -> String {
    app.url.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `within` runs out): what it sent, and when
/// it closed (None if it did not).
async fn until_closed(socket: &mut TcpStream, within: Duration) -> (String, Option<Instant>) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut buffer)).await {
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), None),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&received).into_owned(),
                    Some(Instant::now()),
                )
            }
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

/// The server answers `/healthz` at once, however many slow clients hold connections.
async fn honest_client_is_answered(app: &TestApp) {
    let started = Instant::now();
    let response = reqwest::Client::new()
        .get(format!("{}/healthz", app.url))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("an honest client is answered");
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The app with the tests' short timeouts.
async fn with_short_timeouts() -> TestApp {
    spawn_app_with(|c| {
        c.header_read_timeout = HEADERS;
        c.body_read_timeout = BODY;
        c.keep_alive_timeout = IDLE;
    })
    .await
}

#[tokio::test]
async fn slow_headers_stalled_bodies_and_idle_connections_are_closed_in_time() {
    let app = with_short_timeouts().await;
    let to = address(&app);
    let opened = Instant::now();

    // Headers that stop part-way.
    let mut partial = Vec::new();
    for _ in 0..20 {
        let mut socket = TcpStream::connect(&to).await.unwrap();
        socket
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ")
            .await
            .unwrap();
        partial.push(socket);
    }
    // Bodies that stop arriving after their first bytes.
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut socket = TcpStream::connect(&to).await.unwrap();
        socket
            .write_all(
                b"POST /api/v1/session HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                  X-Attach-Center-Request: 1\r\nContent-Length: 400\r\n\r\n{\"userName\":",
            )
            .await
            .unwrap();
        stalled.push(socket);
    }
    // Connections that say nothing at all.
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(&to).await.unwrap());
    }
    // An honest client that keeps its connection after one request, and then says nothing.
    let mut kept = TcpStream::connect(&to).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 1024];
    let read = kept.read(&mut answer).await.unwrap();
    assert!(answer[..read].starts_with(b"HTTP/1.1 200"));
    let answered = Instant::now();
    honest_client_is_answered(&app).await;

    for mut socket in partial {
        let (_, closed) = until_closed(&mut socket, HEADERS + GRACE).await;
        assert!(
            closed.is_some(),
            "a request whose headers stopped is closed"
        );
    }
    for mut socket in stalled {
        let (received, closed) = until_closed(&mut socket, BODY + GRACE).await;
        let closed = closed.expect("a body that stopped arriving is closed");
        assert!(
            received.starts_with("HTTP/1.1 400"),
            "and refused: {received}"
        );
        assert!(received.contains("stopped arriving"), "{received}");
        assert!(closed.duration_since(opened) >= BODY);
    }
    honest_client_is_answered(&app).await;
    for mut socket in silent {
        let (received, closed) = until_closed(&mut socket, IDLE + GRACE).await;
        let closed = closed.expect("a silent connection is closed");
        assert_eq!(received, "");
        assert!(
            closed.duration_since(opened) >= IDLE,
            "idle connections have their own, longer, timeout"
        );
    }
    let (_, closed) = until_closed(&mut kept, IDLE + GRACE).await;
    let closed = closed.expect("a kept-alive connection left idle is closed");
    assert!(closed.duration_since(answered) >= IDLE - Duration::from_millis(100));
    app.shut_down().await;
}

/// A body sent slowly but steadily (a byte at a time, each within the timeout) is read to its end,
/// however much longer than the timeout it takes as a whole; so is a request whose headers come
/// slowly within their bound. Event streams and a site's long poll outlast every timeout.
#[tokio::test]
async fn steady_bodies_event_streams_and_long_polls_outlast_the_timeouts() {
    let app = with_short_timeouts().await;
    let to = address(&app);
    let body = format!(
        "{{\"userName\":\"{}\",\"password\":\"{}\"}}",
        crate::ADMIN,
        crate::PASSWORD
    );
    let mut socket = TcpStream::connect(&to).await.unwrap();
    socket
        .write_all(
            format!(
                "POST /api/v1/session HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                 X-Attach-Center-Request: 1\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut ticks = tokio::time::interval(BODY / 4);
    for chunk in body.as_bytes().chunks(4) {
        ticks.tick().await;
        socket.write_all(chunk).await.unwrap();
    }
    assert!(
        started.elapsed() > BODY * 2,
        "the body took longer than its timeout"
    );
    let mut answer = [0u8; 1024];
    let read = socket.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // An event stream open longer than the idle timeout is still open, and a site's long poll
    // longer than it is answered.
    let mut events = app
        .client
        .get(format!("{}/api/v1/events", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let site = app.attach_site(quick_site("HQ", "CHQ", 2207, 71)).await;
    let polled = Instant::now();
    let poll = site
        .client()
        .poll_actions(5)
        .await
        .expect("the long poll is answered");
    assert!(poll.actions.is_empty());
    assert!(polled.elapsed() > IDLE, "it waited its whole time");
    let until = tokio::time::Instant::now() + Duration::from_millis(500);
    loop {
        match tokio::time::timeout_at(until, events.chunk()).await {
            Err(_) => break,
            Ok(chunk) => {
                assert!(
                    chunk.expect("the stream is still open").is_some(),
                    "the event stream was not ended"
                );
            }
        }
    }
    app.shut_down().await;
}

#[tokio::test]
async fn connections_over_the_bound_are_answered_503_and_the_rest_served() {
    const BOUND: usize = 12;
    let app = spawn_app_with(|c| {
        c.max_connections = BOUND as u32;
        c.keep_alive_timeout = Duration::from_secs(60);
    })
    .await;
    let to = address(&app);
    // The test's own client holds one connection (signed in); these hold the rest, each proven
    // held by an answer.
    honest_client_is_answered(&app).await;
    let mut held = Vec::new();
    while held.len() < BOUND {
        let mut socket = TcpStream::connect(&to).await.unwrap();
        socket
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let mut answer = [0u8; 2048];
        let read = socket.read(&mut answer).await.unwrap_or(0);
        if answer[..read].starts_with(b"HTTP/1.1 200") {
            held.push(socket);
        } else {
            // The bound is reached (the clients' pooled connections count too).
            let text = String::from_utf8_lossy(&answer[..read]);
            assert!(text.starts_with("HTTP/1.1 503"), "{text}");
            break;
        }
    }
    assert!(held.len() >= BOUND - 3, "held {}", held.len());
    let mut over = TcpStream::connect(&to).await.unwrap();
    over.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = until_closed(&mut over, GRACE).await;
    assert!(closed.is_some(), "the connection over the bound is closed");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let error: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(error["error"]["code"], "serviceUnavailable", "{body}");
    assert!(
        !error["error"]["requestId"].as_str().unwrap().is_empty(),
        "{body}"
    );

    // Connections given back make room again.
    drop(held);
    let deadline = Instant::now() + GRACE;
    loop {
        let answered = reqwest::Client::new()
            .get(format!("{}/healthz", app.url))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .ok();
        if answered == Some(200) {
            break;
        }
        assert!(Instant::now() < deadline, "room again: {answered:?}");
        tokio::task::yield_now().await;
    }
    app.shut_down().await;
}
