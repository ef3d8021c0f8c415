//! A Server-Sent Events client for the tests: subscribe first, then act, then wait for the event.

use std::time::Duration;

use serde_json::Value;

pub struct EventStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
    /// Events read while waiting for another, kept for a later wait: events of different
    /// sources may arrive in either order.
    unclaimed: std::collections::VecDeque<(String, Value)>,
}

impl EventStream {
    /// Subscribes with the app's signed-in client.
    pub async fn open(app: &crate::TestApp) -> Self {
        Self::open_with(&app.client, &app.url).await
    }

    pub async fn open_with(client: &reqwest::Client, url: &str) -> Self {
        let response = client
            .get(format!("{url}/api/v1/events"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        Self {
            response,
            buffer: Vec::new(),
            unclaimed: std::collections::VecDeque::new(),
        }
    }

    /// The next event as (name, data); keep-alive comments are skipped.
    pub async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let block = String::from_utf8(block).expect("events are UTF-8");
                let mut name = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        name = Some(value.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                if let Some(name) = name {
                    return (name, serde_json::from_str(&data).unwrap());
                }
                continue;
            }
            let chunk = self
                .response
                .chunk()
                .await
                .unwrap()
                .expect("the event stream stays open");
            self.buffer.extend_from_slice(&chunk);
        }
    }

    /// Waits (at most 30 s) for an event named `name` whose data satisfies `matches`: the first
    /// such event kept from earlier waits, or the next one to arrive. Events that do not match
    /// are kept for later waits, never dropped.
    pub async fn wait_for(&mut self, name: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let kept = self
            .unclaimed
            .iter()
            .position(|(event, data)| event == name && matches(data));
        if let Some(index) = kept {
            return self.unclaimed.remove(index).expect("found above").1;
        }
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let (event, data) = self.next().await;
                if event == name && matches(&data) {
                    return data;
                }
                self.unclaimed.push_back((event, data));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no matching '{name}' event within 30 s"))
    }
}

/// Waiting for a later event keeps the earlier ones for the next wait: two events that may arrive
/// in either order are both found, whichever is awaited first.
#[tokio::test]
async fn waiting_for_one_event_keeps_the_others() {
    let app = crate::spawn_app().await;
    let mut events = EventStream::open(&app).await;
    let state = app.state();
    for connector in ["first", "second"] {
        state
            .live
            .publish(admin_api::Event::Devices(admin_api::DevicesEvent {
                connector_id: connector.into(),
                changed: 1,
            }))
            .await;
    }
    let second = events
        .wait_for("devices", |d| d["connectorId"] == "second")
        .await;
    assert_eq!(second["connectorId"], "second");
    let first = events
        .wait_for("devices", |d| d["connectorId"] == "first")
        .await;
    assert_eq!(first["connectorId"], "first");
    app.shut_down().await;
}

/// One session may hold only so many streams open (one per tab); the next is refused at once, and
/// a stream closed gives its place back. Other sessions are not affected.
#[tokio::test]
async fn event_streams_are_bounded_per_session() {
    let app = crate::spawn_app().await;
    let mut open = Vec::new();
    for _ in 0..admin_server::turns::STREAMS_PER_SESSION {
        open.push(EventStream::open(&app).await);
    }
    let refused = app.get("/api/v1/events").await;
    assert_eq!(
        crate::error_of(refused, 429).await["code"],
        "tooManyRequests"
    );
    let other = app
        .signed_in(crate::ADMIN)
        .await
        .get(format!("{}/api/v1/events", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "another session is not affected");
    drop(open.pop());
    // The server notices the closed connection when it next writes to it: the keep-alive or an
    // event. Publish until a new stream is accepted.
    let state = app.state();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        state
            .live
            .publish(admin_api::Event::Devices(admin_api::DevicesEvent {
                connector_id: "nudge".into(),
                changed: 0,
            }))
            .await;
        let response = app.get("/api/v1/events").await;
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 429);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed stream's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.shut_down().await;
}
