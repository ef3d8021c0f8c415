//! A Server-Sent Events client for the tests: subscribe first, then act, then wait for the event.

use std::time::Duration;

use serde_json::Value;

pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
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
            buffer: String::new(),
        }
    }

    /// The next event as (name, data); keep-alive comments are skipped.
    pub async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
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
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Waits (at most 30 s) for an event named `name` whose data satisfies `matches`.
    pub async fn wait_for(&mut self, name: &str, matches: impl Fn(&Value) -> bool) -> Value {
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let (event, data) = self.next().await;
                if event == name && matches(&data) {
                    return data;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no matching '{name}' event within 30 s"))
    }
}
