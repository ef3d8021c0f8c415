//! The server's layers as docs/architecture.md draws them, checked on its source: the store knows
//! no HTTP (no axum or http type, not the HTTP error, not the request id's task-local) and calls
//! nothing above it (no route, protocol handler, domain step, auth, live events or app state).

use std::path::{Path, PathBuf};

fn sources(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Each line of `files` (outside comments) naming one of `names`: `file:line: text`.
fn naming(files: impl IntoIterator<Item = PathBuf>, names: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if names.iter().any(|name| code.contains(name)) {
                found.push(format!(
                    "{}:{}: {}",
                    file.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    found
}

#[test]
fn the_store_knows_no_http_and_calls_nothing_above_it() {
    let store = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let found = naming(
        sources(&store),
        &[
            "axum",
            "http::",
            "crate::error",
            "AppError",
            "AppResult",
            "request_id::",
            "crate::live",
            "crate::routes",
            "crate::protocol",
            "crate::domain",
            "crate::auth",
            "crate::state",
            "AppState",
        ],
    );
    assert!(
        found.is_empty(),
        "the store reaches up:\n{}",
        found.join("\n")
    );
}

/// The admin API and the connector protocol are two edges side by side: neither calls the other
/// (what both need, the caller's address and the answer to an unknown path, is below them).
#[test]
fn the_admin_api_and_the_connector_protocol_do_not_call_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = [
        naming(sources(&src.join("protocol")), &["crate::routes"]),
        naming(sources(&src.join("routes")), &["crate::protocol"]),
    ]
    .concat();
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// Events flow one way: a change tells `live` (publish), and `live` tells the streams and
/// long-polls; `live` never reaches back into the app state that holds it.
#[test]
fn live_events_flow_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let back = naming([src.join("live.rs")], &["AppState", "crate::state"]);
    assert!(back.is_empty(), "{}", back.join("\n"));
}

/// Which backend answers is the store's secret: nothing outside it asks for its PostgreSQL pool,
/// names its PostgreSQL module (what instances share is asked of `store::shared`) or a database
/// library's type (the store answers in `StoreError`).
#[test]
fn the_backend_is_the_stores_secret() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // The store itself, and the tests' harness with its throwaway clusters, are left out.
    let outside = sources(&src).into_iter().filter(|file| {
        let inside = file.strip_prefix(&src).unwrap();
        !(inside.starts_with("store") || inside.starts_with("testing"))
    });
    let found = naming(
        outside,
        &[".postgres()", "store::postgres", "sqlx", "rusqlite"],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// Demo mode and the test harness run a simulated hierarchy over the connector protocol; the
/// server's own build links none of the site connector's code for a real site (its Windows
/// authentication, its Entra ID assertions, its AdminService client).
#[test]
fn the_admin_server_links_no_site_connector_code() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let tree = std::process::Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["-p", "admin-server"])
        .output()
        .unwrap();
    assert!(
        tree.status.success(),
        "{}",
        String::from_utf8_lossy(&tree.stderr)
    );
    let tree = String::from_utf8(tree.stdout).unwrap();
    assert!(
        tree.lines().any(|l| l.starts_with("simulated-hierarchy ")),
        "the tree lists the server's dependencies: {tree}"
    );
    let linked: Vec<&str> = tree
        .lines()
        .filter(|line| {
            ["site-connector ", "sspi ", "picky", "jsonwebtoken "]
                .iter()
                .any(|name| line.starts_with(name))
        })
        .collect();
    assert!(linked.is_empty(), "the admin server links {linked:?}");
}
