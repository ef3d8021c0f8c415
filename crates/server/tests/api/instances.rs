//! Several `admin-server` processes over one PostgreSQL, behind an address that routes each new
//! connection to whichever instance is up (a stand-in for a reverse proxy without sticky sessions):
//! a session made on one is valid on the other, a site's long-poll on one is woken by an action
//! requested on the other, an event stream on one sees what a site reported to the other, and
//! killing an instance mid-action loses nothing. Runs on PostgreSQL whichever backend the suite
//! is on.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use admin_server::testing::postgres;
use site_connector::hierarchy::ClientState;
use site_connector::{HierarchyConfig, SimulatedHierarchy, SiteConnector, SiteOptions};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::binary::signed_in;
use crate::events::EventStream;
use crate::protocol::is_action;

/// One `admin-server` process.
struct Instance {
    child: Child,
    url: String,
    addr: SocketAddr,
}

impl Instance {
    async fn start(database: &str, dist: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_admin-server"))
            .env("ADMIN_LISTEN", "127.0.0.1:0")
            .env("ADMIN_DATABASE_URL", database)
            .env("ADMIN_DIST", dist)
            .env("ADMIN_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = crate::helpers::until_url(&mut lines)
            .await
            .0
            .expect("the instance prints its URL");
        // The rest of its output is drained, so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let addr = url
            .trim_start_matches("http://")
            .parse()
            .expect("a socket address");
        Self { child, url, addr }
    }
}

/// The server's command line on `database`, with `input` on its standard input; what it printed.
async fn command_line(database: &str, args: &[&str], input: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_admin-server"))
        .arg("--database-url")
        .arg(database)
        .arg("--log-level")
        .arg("warn")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success(), "{args:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// An address that sends each new connection to the current target.
struct Router {
    url: String,
    target: Arc<Mutex<SocketAddr>>,
}

impl Router {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let target = Arc::new(Mutex::new(target));
        let current = target.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let to = *current.lock().unwrap();
                tokio::spawn(async move {
                    if let Ok(mut upstream) = TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut upstream).await;
                    }
                });
            }
        });
        Self { url, target }
    }

    fn route_to(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = target;
    }
}

/// Opens a stream with `Last-Event-ID: 0` and reads it until the action is done: the action's
/// events as (id, state).
async fn replayed_actions(client: &reqwest::Client, url: &str, id: &str) -> Vec<(i64, String)> {
    let mut response = client
        .get(format!("{url}/api/v1/events"))
        .header("last-event-id", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut buffer = String::new();
    let mut seen = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_owned()))
                };
                let (Some(event_id), Some("deviceAction"), Some(data)) =
                    (field("id:"), field("event:").as_deref(), field("data:"))
                else {
                    continue;
                };
                let data: serde_json::Value = serde_json::from_str(&data).unwrap();
                if data["id"] != id {
                    continue;
                }
                let state = data["actionState"].as_str().unwrap().to_owned();
                seen.push((event_id.parse::<i64>().unwrap(), state.clone()));
                if state == "done" {
                    return;
                }
            }
            let chunk = response
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    })
    .await
    .expect("the missed events are replayed");
    seen
}

#[tokio::test]
async fn two_instances_share_sessions_wake_ups_and_events_and_one_dying_loses_nothing() {
    let cluster = postgres::shared().await;
    let database = cluster.new_database().await.unwrap();
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(dist.path().join("index.html"), crate::INDEX_HTML).unwrap();
    command_line(
        &database,
        &[
            "user",
            "add",
            "admin@contoso.com",
            "--role",
            "Intune Administrator",
            "--password-stdin",
        ],
        &format!("{}\n", crate::PASSWORD),
    )
    .await;
    let token = command_line(&database, &["onboarding-token"], "").await;
    let a = Instance::start(&database, dist.path()).await;
    let mut b = Instance::start(&database, dist.path()).await;

    for instance in [&a, &b] {
        let health = reqwest::get(format!("{}/healthz", instance.url))
            .await
            .unwrap();
        assert_eq!(
            health.status(),
            200,
            "a load balancer finds the instance up"
        );
    }
    // Signed in on A, known on B.
    let (admin, _) = signed_in(&a.url, "admin@contoso.com").await;
    let me = admin
        .get(format!("{}/api/v1/me", b.url))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "a session made on A is valid on B");

    // The site reaches B through the router, and waits on B's long-poll for as long as the
    // protocol allows: only a wake-up from A brings the action in time.
    let router = Router::start(b.addr).await;
    let mut hierarchy = HierarchyConfig::new("Contoso", "CHQ", 2207, 30, 5);
    hierarchy.offline_share = 0.0;
    // Long enough to kill B while the client runs the action.
    hierarchy.latency = (
        std::time::Duration::from_secs(3),
        std::time::Duration::from_secs(3),
    );
    let site = SiteConnector::attach(
        &router.url,
        &token,
        SimulatedHierarchy::new(hierarchy),
        SiteOptions {
            poll_wait_seconds: admin_api::protocol::MAX_WAIT_SECONDS,
            ..SiteOptions::default()
        },
    )
    .await
    .unwrap();
    site.full_sync().await.unwrap();
    let device = crate::protocol::device_in_state(&site, ClientState::Online).await;
    let stop = CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));

    let mut events = EventStream::open_with(&admin, &a.url).await;
    let requested = admin
        .post(format!(
            "{}/api/v1/devices/{device}/triggerConfigurationManagerAction",
            a.url
        ))
        .json(
            &serde_json::json!({"configurationManagerAction": {"action": "refreshMachinePolicy"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(requested.status(), 202);
    let action: admin_api::DeviceAction = requested.json().await.unwrap();
    // The site took it from B (woken there by A's request; the poll would otherwise wait 60 s,
    // past the stream's 30 s), and A's stream sees what B wrote.
    events
        .wait_for("deviceAction", is_action(&action.id, "active"))
        .await;

    // B dies while the client runs the action; new connections reach A.
    b.child.start_kill().unwrap();
    b.child.wait().await.unwrap();
    router.route_to(a.addr);
    let done = events
        .wait_for("deviceAction", is_action(&action.id, "done"))
        .await;
    assert_eq!(done["id"], action.id.as_str());

    // A stream that resumes (here from the start: Last-Event-ID 0) first gets what it missed,
    // from the outbox, in order and numbered, whichever instance published it.
    let resumed = replayed_actions(&admin, &a.url, &action.id).await;
    assert_eq!(
        resumed
            .iter()
            .map(|(_, state)| state.as_str())
            .collect::<Vec<_>>(),
        ["pending", "active", "done"]
    );
    assert!(resumed.windows(2).all(|w| w[0].0 < w[1].0), "{resumed:?}");

    // Each step is recorded once, whichever instance wrote it.
    let pool = sqlx::PgPool::connect(&database).await.unwrap();
    let steps: Vec<(String, i64)> = sqlx::query_as(
        "SELECT activity, COUNT(*) FROM audit_events WHERE resource_id = $1
         GROUP BY activity ORDER BY activity",
    )
    .bind(&device)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        steps,
        vec![
            ("configurationManagerActionResult".to_owned(), 1),
            ("requestConfigurationManagerAction".to_owned(), 1),
        ]
    );
    let actions: Vec<(String, String)> =
        sqlx::query_as("SELECT id, action_state FROM device_actions WHERE device_id = $1")
            .bind(&device)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(actions, vec![(action.id.clone(), "done".to_owned())]);
    pool.close().await;
    stop.cancel();
    serving.await.unwrap();
    drop(a);
}
