//! `site-connector`: attaches a simulated hierarchy to an admin center and runs its service
//! connection point (uploads, actions, offboarding) until stopped or offboarded.

use std::time::Duration;

use admin_api::UploadScope;
use clap::Parser;
use site_connector::state::StateFile;
use site_connector::{HierarchyConfig, Outcome, SimulatedHierarchy, SiteConnector, SiteOptions};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(name = "site-connector", version)]
struct Args {
    /// The admin center, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "SITE_SERVER")]
    server: String,
    /// A one-time onboarding token (`admin-server onboarding-token`, or the admin API). Needed
    /// once: with --state, later starts resume with the kept credential.
    #[arg(long, env = "SITE_ONBOARDING_TOKEN")]
    onboarding_token: Option<String>,
    /// A folder for the connector's state (its credential, an upload in progress), private to
    /// its owner. Without it, the credential lives only as long as the process.
    #[arg(long, env = "SITE_STATE")]
    state: Option<std::path::PathBuf>,
    /// A CA certificate file (PEM) to trust besides the platform's store, for an admin center
    /// at an `https://` address whose certificate an organization's own CA issued.
    #[arg(long, env = "SITE_CA_FILE")]
    ca_file: Option<std::path::PathBuf>,
    /// Devices per full-sync batch.
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    #[arg(long, default_value = "Contoso Branch")]
    name: String,
    #[arg(long, default_value = "BR1")]
    site_code: String,
    /// ConfigMgr version: 2002, 2006, 2010, 2103, 2207, ...
    #[arg(long, default_value_t = 2207)]
    site_version: u32,
    #[arg(long, default_value_t = 500)]
    devices: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of offline clients (0 to 1).
    #[arg(long, default_value_t = 0.1)]
    offline_share: f64,
    /// Client-side latency of actions, low and high, e.g. 500ms and 3s.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500ms")]
    latency_min: Duration,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
    latency_max: Duration,
    /// Upload only this collection (and, from 2010, its children with --include-children).
    #[arg(long)]
    collection: Option<String>,
    #[arg(long)]
    include_children: bool,
    /// Attach, upload the devices once and exit.
    #[arg(long)]
    once: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut config = HierarchyConfig::new(
        &args.name,
        &args.site_code,
        args.site_version,
        args.devices,
        args.seed,
    );
    config.offline_share = args.offline_share;
    config.latency = (args.latency_min, args.latency_max);
    if let Some(collection) = args.collection {
        config.upload_scope = UploadScope::Collection {
            collection_name: collection.clone(),
            collection_id: collection,
            include_child_collections: args.include_children,
        };
    }
    let hierarchy = SimulatedHierarchy::new(config);
    let ca_pem = match &args.ca_file {
        Some(path) => Some(std::fs::read(path).map_err(|error| {
            anyhow::anyhow!("the CA file {} cannot be read: {error}", path.display())
        })?),
        None => None,
    };
    let options = SiteOptions {
        batch_size: args.batch_size,
        ca_pem,
        ..SiteOptions::default()
    };
    let token = || {
        args.onboarding_token.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "no connector state to resume: attach once with --onboarding-token (and --state to keep its credential)"
            )
        })
    };
    let site = match args
        .state
        .as_deref()
        .map(StateFile::in_folder)
        .transpose()?
    {
        Some(file) => match file.load()? {
            Some(kept) => {
                if kept.server.trim_end_matches('/') != args.server.trim_end_matches('/') {
                    anyhow::bail!(
                        "{} holds the credential of a connector of {}, not of {}: give another --state folder for another admin center",
                        file.path().display(),
                        kept.server,
                        args.server
                    );
                }
                println!(
                    "Resuming connector {} from {}.",
                    kept.connector_id,
                    file.path().display()
                );
                match SiteConnector::resume_from(kept, file.clone(), hierarchy, options).await {
                    Ok(site) => site,
                    Err(error) if error.status() == Some(reqwest::StatusCode::UNAUTHORIZED) => {
                        file.remove()?;
                        anyhow::bail!(
                            "the admin center no longer accepts this connector's credential (it was offboarded or removed); {} was removed. Attach again with a new onboarding token.",
                            file.path().display()
                        );
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            None => {
                SiteConnector::attach_keeping(&args.server, token()?, hierarchy, options, file)
                    .await?
            }
        },
        None => SiteConnector::attach(&args.server, token()?, hierarchy, options).await?,
    };
    let synced = site.full_sync().await?;
    println!("Attached; uploaded {} devices.", synced.device_count);
    if args.once {
        return Ok(());
    }
    let stop = CancellationToken::new();
    let on_interrupt = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_interrupt.cancel();
    });
    let outcome = site.serve(stop).await;
    match outcome {
        Outcome::Offboarded => println!(
            "Stopped: the admin center offboarded this hierarchy; its kept state was removed. Attach again with a new onboarding token."
        ),
        Outcome::CredentialRevoked => println!(
            "Stopped: the admin center no longer accepts this connector's credential (it was removed); its kept state was removed. Attach again with a new onboarding token."
        ),
        Outcome::Stopped => println!("Stopped."),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        <super::Args as clap::CommandFactory>::command().debug_assert();
    }
}
