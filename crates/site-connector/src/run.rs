//! The connector's life as the `site-connector` command runs it: attach (keeping the credential)
//! or resume from the state folder, upload, serve until stopped or offboarded, and forget what it
//! kept when the admin center no longer knows it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::admin_service::site::SNAPSHOT_FILE;
use crate::state::{ConnectorState, StateFile};
use crate::{DeviceSource, Outcome, SiteConnector, SiteOptions};

/// How a run starts: attaching with a one-time token, or resuming what a state folder keeps.
pub enum Kept {
    Attach(String),
    Resume(ConnectorState),
}

/// The platform's data folder for the connector: `%ProgramData%\AttachCenter\SiteConnector` on
/// Windows, `$XDG_STATE_HOME/attach-center/site-connector` (or `~/.local/state/…`) elsewhere.
pub fn default_state_folder() -> anyhow::Result<PathBuf> {
    if cfg!(windows) {
        let data = std::env::var_os("ProgramData")
            .ok_or_else(|| anyhow::anyhow!("ProgramData is not set: give --state <folder>"))?;
        return Ok(PathBuf::from(data)
            .join("AttachCenter")
            .join("SiteConnector"));
    }
    let base = match std::env::var_os("XDG_STATE_HOME") {
        Some(state) if !state.is_empty() => PathBuf::from(state),
        _ => {
            let home = std::env::var_os("HOME")
                .ok_or_else(|| anyhow::anyhow!("HOME is not set: give --state <folder>"))?;
            PathBuf::from(home).join(".local").join("state")
        }
    };
    Ok(base.join("attach-center").join("site-connector"))
}

/// What the state folder keeps, if anything.
pub fn kept(folder: &Path) -> anyhow::Result<Option<ConnectorState>> {
    StateFile::in_folder(folder)?.load()
}

/// Attaches or resumes, keeping the state in `folder`. A kept credential the admin center no
/// longer accepts is removed, with a message that says what to do.
pub async fn connect<S: DeviceSource>(
    server: &str,
    folder: &Path,
    how: Kept,
    source: S,
    options: SiteOptions,
) -> anyhow::Result<SiteConnector<S>> {
    let file = StateFile::in_folder(folder)?;
    match how {
        Kept::Attach(token) => {
            let site = SiteConnector::attach_keeping(server, &token, source, options, file).await?;
            println!(
                "Attached to {server}; the credential is kept in {}.",
                folder.display()
            );
            Ok(site)
        }
        Kept::Resume(kept) => {
            if kept.server.trim_end_matches('/') != server.trim_end_matches('/') {
                anyhow::bail!(
                    "{} holds the credential of a connector of {}, not of {server}: give another --state folder for another admin center",
                    file.path().display(),
                    kept.server,
                );
            }
            println!(
                "Resuming connector {} from {}.",
                kept.connector_id,
                file.path().display()
            );
            match SiteConnector::resume_from(kept, file.clone(), source, options).await {
                Ok(site) => Ok(site),
                Err(error) if error.status() == Some(reqwest::StatusCode::UNAUTHORIZED) => {
                    forget(folder);
                    anyhow::bail!(
                        "the admin center no longer accepts this connector's credential (it was offboarded or removed); {} was removed. Attach again with a new onboarding token.",
                        file.path().display()
                    )
                }
                Err(error) => Err(error.into()),
            }
        }
    }
}

/// Connects, uploads and serves until `stop` (Ctrl+C, or the service's stop).
pub async fn serve_site<S: DeviceSource>(
    server: &str,
    folder: &Path,
    how: Kept,
    source: S,
    options: SiteOptions,
    stop: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let resuming = matches!(how, Kept::Resume(_));
    let site = connect(server, folder, how, source, options).await?;
    let outcome = upload_and_serve(site, false, resuming, stop).await?;
    if outcome == ExitCode::from(GONE) {
        forget(folder);
    }
    Ok(outcome)
}

/// The exit code of a connector the admin center no longer knows (offboarded or removed).
pub const GONE: u8 = 3;

/// The first upload (a delta when resuming with a snapshot and no full sync to finish, every
/// device otherwise), then serving until `stop` unless `once`.
pub async fn upload_and_serve<S: DeviceSource>(
    site: SiteConnector<S>,
    once: bool,
    resuming: bool,
    stop: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let delta_will_do =
        resuming && !site.full_sync_in_progress() && site.source().lock().await.has_snapshot();
    if delta_will_do {
        match site.send_delta().await? {
            Some(done) => println!("Resumed; uploaded {} changes.", done.changed),
            None => println!("Resumed; nothing changed since the last upload."),
        }
    } else {
        let synced = site.full_sync().await?;
        println!("Uploaded {} devices.", synced.device_count);
    }
    if once {
        return Ok(ExitCode::SUCCESS);
    }
    Ok(match site.serve(stop).await {
        Outcome::Offboarded => {
            println!(
                "Stopped: the admin center offboarded this hierarchy; its kept state was removed. Attach again with a new onboarding token."
            );
            ExitCode::from(GONE)
        }
        Outcome::CredentialRevoked => {
            println!(
                "Stopped: the admin center no longer accepts this connector's credential (it was removed); its kept state was removed. Attach again with a new onboarding token."
            );
            ExitCode::from(GONE)
        }
        Outcome::Stopped => {
            println!("Stopped.");
            ExitCode::SUCCESS
        }
    })
}

/// A token cancelled by Ctrl+C (SIGINT).
pub fn stopped_by_interrupt() -> CancellationToken {
    let stop = CancellationToken::new();
    let on_interrupt = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_interrupt.cancel();
    });
    stop
}

/// Removes what the state folder keeps of a connector that is gone.
fn forget(folder: &Path) {
    for name in [crate::state::FILE_NAME, SNAPSHOT_FILE] {
        match std::fs::remove_file(folder.join(name)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                tracing::error!(%error, file = name, "could not remove the connector's state")
            }
            _ => {}
        }
    }
}
