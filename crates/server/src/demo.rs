//! Demo mode: three simulated hierarchies attach to this server through the real connector
//! protocol, over HTTP, as their service connection points would. Their credentials are kept in
//! a file (`demo-sites.json` beside a SQLite database, or `--demo-sites`), so a restart resumes
//! them; one that was offboarded stays gone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use admin_api::UploadScope;
use connector_protocol::users::DiscoveredUser;
use connector_protocol::{Outcome, ProtocolClient, SiteConnector, SiteOptions};
use serde::{Deserialize, Serialize};
use simulated_hierarchy::{HierarchyConfig, SimulatedHierarchy};

use crate::auth::password;
use crate::config::Config;
use crate::domain::connectors::new_onboarding_token;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::users::NewUser;
use crate::store::Store;

#[derive(Debug, Default, Serialize, Deserialize)]
struct DemoSites {
    /// Site code → its credential, or `None` once offboarded.
    sites: BTreeMap<String, Option<String>>,
}

/// The demo hierarchies: an old site that never reports its details, a 2010 site uploading one
/// collection with its children, and a 2207 site uploading everything.
pub fn hierarchies() -> Vec<HierarchyConfig> {
    let mut legacy = HierarchyConfig::new("Contoso Legacy", "LEG", 2002, 300, 2002);
    legacy.reports_site_info = false;
    let mut europe = HierarchyConfig::new("Contoso Europe", "EUR", 2010, 1200, 2010);
    europe.upload_scope = UploadScope::Collection {
        collection_id: "EUR00011".into(),
        collection_name: "Windows 11 Workstations".into(),
        include_child_collections: true,
    };
    let mut headquarters = HierarchyConfig::new("Contoso Headquarters", "CHQ", 2207, 2000, 2207);
    // The sites that report their details check who asks for an action, as tenant attach does;
    // they discovered the demo's accounts by both user discovery methods (2010 needs both).
    let discovered: Vec<DiscoveredUser> = ACCOUNTS
        .iter()
        .map(|(user_name, _, _)| {
            let account = user_name.split('@').next().unwrap_or(user_name);
            DiscoveredUser::new(&format!("CONTOSO\\{account}"), user_name, true, true)
        })
        .collect();
    europe.discovered_users = Some(discovered.clone());
    headquarters.discovered_users = Some(discovered);
    vec![legacy, europe, headquarters]
}

/// The demo's accounts: user name, display name, role.
const ACCOUNTS: [(&str, &str, &str); 3] = [
    (
        "admin@contoso.example",
        "Ada Admin",
        admin_api::identity::INTUNE_ADMINISTRATOR,
    ),
    (
        "helpdesk@contoso.example",
        "Hal Helpdesk",
        admin_api::identity::HELP_DESK_OPERATOR,
    ),
    (
        "reader@contoso.example",
        "Rita Reader",
        admin_api::identity::READ_ONLY_OPERATOR,
    ),
];

/// A demo account made on this start, with the password to print once.
pub struct DemoUser {
    pub user_name: String,
    pub role: &'static str,
    pub password: String,
}

/// One account per built-in role, each with a generated password (or `password` for all, as
/// tests set it). Accounts that exist are left as they are; only new ones are returned.
pub async fn create_users(store: &Store, password: Option<&str>) -> anyhow::Result<Vec<DemoUser>> {
    let mut created = Vec::new();
    for (user_name, display_name, role) in ACCOUNTS {
        if store.credentials(user_name).await?.is_some() {
            continue;
        }
        let password = password.map_or_else(password::generate, str::to_owned);
        let hash = {
            let password = password.clone();
            tokio::task::spawn_blocking(move || password::hash(&password)).await?
        };
        store
            .create_user(
                &NewUser {
                    user_name,
                    display_name,
                    password_hash: &hash,
                    roles: &[role.to_owned()],
                },
                &Actor::system(),
                time::OffsetDateTime::now_utc(),
            )
            .await?;
        created.push(DemoUser {
            user_name: user_name.to_owned(),
            role,
            password,
        });
    }
    Ok(created)
}

/// Where the demo sites' credentials are kept: `--demo-sites`, or beside a SQLite database. A
/// PostgreSQL database has no folder here (the file would otherwise land wherever the server
/// was started from): demo mode there is refused without `--demo-sites`, before anything is
/// written.
pub fn sites_file(config: &Config) -> anyhow::Result<PathBuf> {
    if let Some(file) = &config.demo_sites {
        let folder = file.parent().filter(|f| !f.as_os_str().is_empty());
        if folder.is_some_and(|folder| !folder.is_dir()) {
            anyhow::bail!(
                "the folder of --demo-sites {} does not exist",
                file.display()
            );
        }
        return Ok(file.clone());
    }
    if crate::store::is_postgres(&config.database_url) {
        anyhow::bail!(
            "demo mode on PostgreSQL needs --demo-sites (ADMIN_DEMO_SITES): the file its sites' credentials are kept in"
        );
    }
    let database = crate::store::sqlite_file(&config.database_url)?;
    Ok(database
        .parent()
        .unwrap_or(Path::new(""))
        .join("demo-sites.json"))
}

pub async fn run(state: AppState, server_url: String, file: PathBuf) {
    let mut tasks = Vec::new();
    for config in hierarchies() {
        let state = state.clone();
        let server_url = server_url.clone();
        let file = file.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(error) = run_site(&state, &server_url, config.clone(), &file).await {
                tracing::error!(%error, site = %config.site_code, "a demo site stopped");
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

async fn run_site(
    state: &AppState,
    server_url: &str,
    config: HierarchyConfig,
    file: &PathBuf,
) -> anyhow::Result<()> {
    let code = config.site_code.clone();
    // Over HTTPS (--tls-cert), the demo sites trust the server's own certificate.
    let ca_pem = match &state.config.tls_cert {
        Some(cert) => Some(tokio::fs::read(cert).await?),
        None => None,
    };
    let options = SiteOptions {
        batch_size: 500,
        poll_wait_seconds: 25,
        delta_every: Some(Duration::from_secs(60)),
        full_every: None,
        report_every: None,
        ca_pem,
    };
    let saved = load(file).await.sites.get(&code).cloned();
    let hierarchy = SimulatedHierarchy::new(config);
    let site = match saved {
        Some(None) => return Ok(()),
        Some(Some(credential)) => {
            let client =
                ProtocolClient::trusting(server_url, Some(credential), options.ca_pem.as_deref())?;
            let site = SiteConnector::resume(client, hierarchy, options);
            match site.client().heartbeat().await {
                Err(error) if error.status() == Some(axum::http::StatusCode::UNAUTHORIZED) => {
                    save(file, &code, None).await?;
                    return Ok(());
                }
                _ => site,
            }
        }
        None => {
            let token = new_onboarding_token(&state.store, &state.config, &Actor::system()).await?;
            let site = SiteConnector::attach(server_url, &token.token, hierarchy, options).await?;
            save(file, &code, site.client().credential().map(str::to_owned)).await?;
            site
        }
    };
    site.report_site().await?;
    let synced = site.full_sync().await?;
    tracing::info!(site = %code, devices = synced.device_count, "demo site uploaded its devices");
    match site.serve(state.shutdown.clone()).await {
        Outcome::Offboarded | Outcome::CredentialRevoked => save(file, &code, None).await?,
        Outcome::Stopped => {}
    }
    Ok(())
}

async fn load(file: &PathBuf) -> DemoSites {
    match tokio::fs::read(file).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => DemoSites::default(),
    }
}

/// Sites save one at a time: a lock keeps their read-modify-write whole.
async fn save(file: &PathBuf, code: &str, credential: Option<String>) -> anyhow::Result<()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _guard = LOCK.lock().await;
    let mut sites = load(file).await;
    sites.sites.insert(code.to_owned(), credential);
    // It holds live connector credentials: its owner's alone.
    let bytes = serde_json::to_vec_pretty(&sites)?;
    let file = file.clone();
    tokio::task::spawn_blocking(move || connector_protocol::secret_file::write(&file, &bytes))
        .await??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use admin_api::protocol::Requester;
    use connector_protocol::users::{check, Lookup};

    /// The demo works as before: every demo account may act on every demo site that checks who
    /// asks (the 2010 site, which needs both discovery methods, included).
    #[test]
    fn every_demo_account_passes_the_demo_sites_user_check() {
        let checking: Vec<HierarchyConfig> = hierarchies()
            .into_iter()
            .filter(|site| site.discovered_users.is_some())
            .collect();
        assert_eq!(checking.len(), 2);
        for site in checking {
            let discovered = site.discovered_users.as_deref().unwrap();
            for (user_name, display_name, _) in ACCOUNTS {
                let requester = Requester {
                    display_name: display_name.into(),
                    user_principal_name: user_name.into(),
                    object_id: None,
                    onprem_sid: None,
                };
                let lookup = Lookup::of(&requester);
                let found = discovered.iter().find(|user| lookup.matches(user));
                let seen = check(&site.site_code, site.version, &requester, found);
                assert!(seen.is_ok(), "{}: {seen:?}", site.site_code);
            }
        }
    }
}
