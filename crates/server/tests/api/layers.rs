//! The server's layers as docs/architecture.md draws them, checked on its source: the store knows
//! no HTTP (no axum or http type, not the HTTP error, not the request id's task-local) and calls
//! nothing above it (no route, protocol handler, domain step, auth, live events or app state);
//! every arrow between the server's modules runs down the table of layers below.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The server's modules, top to bottom. A module may use the modules of the layers below its own,
/// never one of its own layer or above (those of one layer stand side by side).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "the edges and the clock",
        &["routes", "protocol", "demo", "sweeper", "spa"],
    ),
    ("who may, and each lifecycle step", &["auth", "domain"]),
    ("what every handler shares", &["state"]),
    ("held by the state", &["live", "limits", "oidc", "turns"]),
    ("the contract's error body", &["error"]),
    ("the request id", &["request_id"]),
    ("the connection", &["connections", "refusals"]),
    ("the store", &["store"]),
    ("typed queries", &["query"]),
    ("settings and values", &["config", "secrets", "timestamps"]),
];

/// The crate root's re-exports, as the modules they come from.
const ROOT_NAMES: &[(&str, &str)] = &[("Config", "config"), ("AppState", "state")];

/// The top-level module each of `src`'s files belongs to (`main.rs`, `lib.rs` and the tests'
/// harness stand above every layer), with the modules its code names through `crate::`.
fn arrows(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut arrows: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(src) {
        let inside = file.strip_prefix(src).unwrap();
        let from = inside
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if ["main", "lib", "testing"].contains(&from.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // A file's unit tests may use what they test with.
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        let to = arrows.entry(from.clone()).or_default();
        for line in code.lines() {
            let line = line.split("//").next().unwrap_or_default();
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    Some(group) => group
                        .split('}')
                        .next()
                        .unwrap()
                        .split(',')
                        .map(|name| name.trim().split("::").next().unwrap())
                        .collect(),
                    None => vec![rest
                        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap()],
                };
                for name in names.into_iter().filter(|name| !name.is_empty()) {
                    let module = ROOT_NAMES
                        .iter()
                        .find(|(root, _)| *root == name)
                        .map_or(name, |(_, module)| module);
                    if module != from {
                        to.insert(module.to_owned());
                    }
                }
            }
        }
    }
    arrows
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// Prints the arrows between the server's modules (`cargo test layers -- --nocapture` shows
/// them), and fails on any that runs sideways or back up, or on a module in no layer.
#[test]
fn every_arrow_between_modules_runs_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let arrows = arrows(&src);
    let mut drawn = String::new();
    let mut wrong = Vec::new();
    for (layer, (name, modules)) in LAYERS.iter().enumerate() {
        drawn.push_str(&format!("{layer}. {name}\n"));
        for module in *modules {
            let to: Vec<String> = arrows
                .get(*module)
                .into_iter()
                .flatten()
                .map(|to| match layer_of(to) {
                    Some(below) => format!("{to} ({below})"),
                    None => format!("{to} (in no layer)"),
                })
                .collect();
            drawn.push_str(&format!("   {module} -> {}\n", to.join(", ")));
        }
    }
    for (from, to) in &arrows {
        let Some(layer) = layer_of(from) else {
            wrong.push(format!("{from} is in no layer: add it to LAYERS"));
            continue;
        };
        for module in to {
            match layer_of(module) {
                Some(below) if below > layer => {}
                Some(_) => wrong.push(format!("{from} -> {module} runs sideways or up")),
                None => wrong.push(format!("{module} (used by {from}) is in no layer")),
            }
        }
    }
    println!("{drawn}");
    assert!(wrong.is_empty(), "{}\n\n{drawn}", wrong.join("\n"));
}

/// `query/` parses and checks, `store/` writes SQL: the store takes the typed queries (not the
/// `$filter` parser's tree), and neither the queries nor the edges hold SQL.
#[test]
fn queries_hold_no_sql_and_the_store_takes_them_typed() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let sql = [
        "SELECT ",
        "INSERT INTO",
        "DELETE FROM",
        "UPDATE ",
        " WHERE ",
        "Dialect",
        "Sql {",
    ];
    let mut found = Vec::new();
    for folder in ["query", "routes", "protocol", "domain", "auth"] {
        found.extend(naming(sources(&src.join(folder)), &sql));
    }
    found.extend(naming(sources(&src.join("store")), &["query::filter"]));
    found.extend(naming(sources(&src.join("query")), &["crate::store"]));
    assert!(found.is_empty(), "{}", found.join("\n"));
}

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
