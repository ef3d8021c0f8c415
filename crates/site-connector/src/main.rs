//! `site-connector`: a Configuration Manager hierarchy's service connection point.
//!
//! - `site-connector attach|run|check` serve a real site through its AdminService
//!   (docs/attach-a-site.md);
//! - without a subcommand it attaches a simulated hierarchy (demo data, tests), as it always did.

use std::path::PathBuf;
use std::time::Duration;

use admin_api::UploadScope;
use clap::{Args, Parser, Subcommand};
use site_connector::admin_service::checks::{self, AdminCenter};
use site_connector::admin_service::site::{RealSite, RealSiteOptions};
use site_connector::admin_service::{
    AdminService, AdminServiceConfig, Authentication, EntraCertificate, EntraClient,
    EntraCredential, Trust, WindowsAccount,
};
use site_connector::run::{self, Kept};
use tokio_util::sync::CancellationToken;

mod service;
use site_connector::{HierarchyConfig, SimulatedHierarchy, SiteOptions};

#[derive(Debug, Parser)]
#[command(
    name = "site-connector",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    simulated: Simulated,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Attach a real site: onboard with a token, keep the credential in the state folder, upload
    /// the site's devices, then serve (actions, deltas, checks) until stopped.
    Attach {
        #[command(flatten)]
        site: RealSiteArgs,
        #[command(flatten)]
        connector: ConnectorArgs,
        /// The one-time onboarding token from Connectors and tokens (or `admin-server
        /// onboarding-token`).
        #[arg(long, env = "SITE_ONBOARDING_TOKEN")]
        onboarding_token: String,
    },
    /// Serve a site attached before, from its state folder (after a restart; no token).
    Run {
        #[command(flatten)]
        site: RealSiteArgs,
        #[command(flatten)]
        connector: ConnectorArgs,
    },
    /// Install or remove the connector as a Windows service that runs `site-connector run`.
    Service {
        #[command(subcommand)]
        action: service::ServiceAction,
    },
    /// The Windows service's entry point (started by Windows, not by hand).
    #[command(hide = true)]
    ServiceHost {
        #[arg(long)]
        name: String,
        /// `run` and its arguments.
        #[arg(last = true)]
        run: Vec<String>,
    },
    /// Run the connectivity checks once and print one line each; exits 1 when one failed.
    Check {
        #[command(flatten)]
        site: RealSiteArgs,
        /// The admin center to check too.
        #[arg(long, env = "SITE_SERVER")]
        server: Option<String>,
        #[arg(long, env = "SITE_CA_FILE")]
        ca_file: Option<PathBuf>,
    },
}

/// How to reach and read the real site.
#[derive(Debug, Args)]
struct RealSiteArgs {
    /// The site's AdminService, e.g. https://cm01.contoso.com/AdminService.
    #[arg(long, env = "SITE_ADMIN_SERVICE")]
    admin_service: String,
    /// The account that reads the site and sends client notifications: DOMAIN\name (Windows
    /// authentication; or --entra-client-id for a cloud management gateway).
    #[arg(
        long,
        env = "SITE_ADMIN_SERVICE_USER",
        required_unless_present = "entra_client_id"
    )]
    admin_service_user: Option<String>,
    /// The domain controller that issues the account's Kerberos tickets (host or host:port).
    /// Without it, it is found as the platform finds it (DNS on Windows; SSPI_KDC_URL or
    /// krb5.conf elsewhere); with none, NTLM.
    #[arg(long, env = "SITE_KDC", requires = "admin_service_user")]
    kdc: Option<String>,
    /// Through a cloud management gateway: the Entra ID tenant (id or domain).
    #[arg(long, env = "SITE_ENTRA_TENANT", requires = "entra_client_id")]
    entra_tenant: Option<String>,
    /// The app registration's client id; its secret comes from --entra-client-secret-file or
    /// the ENTRA_CLIENT_SECRET environment variable.
    #[arg(
        long,
        env = "SITE_ENTRA_CLIENT_ID",
        requires_all = ["entra_tenant", "entra_scope"],
        conflicts_with = "admin_service_user"
    )]
    entra_client_id: Option<String>,
    #[arg(long, env = "SITE_ENTRA_CLIENT_SECRET_FILE")]
    entra_client_secret_file: Option<PathBuf>,
    /// Instead of a secret, a certificate registered with the app: a PEM file holding the
    /// certificate and its RSA private key.
    #[arg(
        long,
        env = "SITE_ENTRA_CERTIFICATE_FILE",
        conflicts_with = "entra_client_secret_file"
    )]
    entra_certificate_file: Option<PathBuf>,
    /// The scope of the AdminService's server app, e.g. api://<app id>/.default.
    #[arg(long, env = "SITE_ENTRA_SCOPE")]
    entra_scope: Option<String>,
    /// The Entra ID authority.
    #[arg(
        long,
        env = "SITE_ENTRA_AUTHORITY",
        default_value = "https://login.microsoftonline.com"
    )]
    entra_authority: String,
    /// A file holding the account's password (its first line). Without it, the password is
    /// taken from the ADMIN_SERVICE_PASSWORD environment variable; never from an argument.
    #[arg(long, env = "SITE_ADMIN_SERVICE_PASSWORD_FILE")]
    admin_service_password_file: Option<PathBuf>,
    /// A CA certificate file (PEM) that issued the SMS Provider's certificate.
    #[arg(
        long,
        env = "SITE_ADMIN_SERVICE_CA",
        conflicts_with = "admin_service_pin"
    )]
    admin_service_ca: Option<PathBuf>,
    /// The SHA-256 fingerprint of the SMS Provider's certificate (64 hex digits, colons
    /// allowed): only that certificate is trusted.
    #[arg(long, env = "SITE_ADMIN_SERVICE_PIN")]
    admin_service_pin: Option<String>,
    /// Upload only this collection (e.g. PS100011) instead of all devices.
    #[arg(long, env = "SITE_COLLECTION")]
    collection: Option<String>,
    /// With --collection: its child collections too (sites at 2010 or later).
    #[arg(long, requires = "collection")]
    include_child_collections: bool,
    /// Check at the site that the user who asked for an action is one it discovered (tenant
    /// attach's rule: Azure AD or Active Directory user discovery from 2103, both before): `on`,
    /// or `off` for a site whose owner chooses not to (the admin center then says so).
    #[arg(long, env = "SITE_USER_CHECK", value_parser = ["on", "off"], default_value = "on")]
    user_check: String,
}

/// How the connector talks to the admin center and when it works.
#[derive(Debug, Args)]
struct ConnectorArgs {
    /// The admin center, e.g. https://attach.contoso.com. `run` takes it from the state folder
    /// when not given.
    #[arg(long, env = "SITE_SERVER")]
    server: Option<String>,
    /// A CA certificate file (PEM) to trust for the admin center, besides the platform's.
    #[arg(long, env = "SITE_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// The connector's state folder (credential, upload in progress, device snapshot); the
    /// platform's data folder by default.
    #[arg(long, env = "SITE_STATE")]
    state: Option<PathBuf>,
    /// Upload what changed this often.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "15m")]
    delta_every: Duration,
    /// Upload every device again this often.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "24h")]
    full_every: Duration,
    /// Report the site's information and connectivity checks this often.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    report_every: Duration,
    /// An action the client has not answered by then fails.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
    action_deadline: Duration,
    /// Devices per upload batch (and per AdminService page).
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
}

/// A simulated hierarchy (no subcommand).
#[derive(Debug, Args)]
struct Simulated {
    /// The admin center, e.g. http://127.0.0.1:8080 (required).
    #[arg(long, env = "SITE_SERVER")]
    server: Option<String>,
    /// A one-time onboarding token (`admin-server onboarding-token`, or the admin API). Needed
    /// once: with --state, later starts resume with the kept credential.
    #[arg(long, env = "SITE_ONBOARDING_TOKEN")]
    onboarding_token: Option<String>,
    /// A folder for the connector's state (its credential, an upload in progress), private to
    /// its owner. Without it, the credential lives only as long as the process.
    #[arg(long, env = "SITE_STATE")]
    state: Option<PathBuf>,
    /// A CA certificate file (PEM) to trust besides the platform's store, for an admin center
    /// at an `https://` address whose certificate an organization's own CA issued.
    #[arg(long, env = "SITE_CA_FILE")]
    ca_file: Option<PathBuf>,
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
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        None => simulated(cli.simulated).await,
        Some(Command::Attach {
            site,
            connector,
            onboarding_token,
        }) => {
            real(
                site,
                connector,
                Some(onboarding_token),
                run::stopped_by_interrupt(),
            )
            .await
        }
        Some(Command::Run { site, connector }) => {
            real(site, connector, None, run::stopped_by_interrupt()).await
        }
        Some(Command::Service { action }) => service::manage(action),
        Some(Command::ServiceHost { name, run }) => service::host(name, run),
        Some(Command::Check {
            site,
            server,
            ca_file,
        }) => check(site, server, ca_file).await,
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("site-connector: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn read_file(path: &PathBuf, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|error| anyhow::anyhow!("the {what} {} cannot be read: {error}", path.display()))
}

/// A secret's first line from a file, or else from an environment variable; never an argument.
fn secret(
    file: Option<&PathBuf>,
    variable: &str,
    what: &str,
    flag: &str,
) -> anyhow::Result<String> {
    match file {
        Some(path) => {
            let text = String::from_utf8(read_file(path, what)?)
                .map_err(|_| anyhow::anyhow!("the {what} is not UTF-8 text"))?;
            Ok(text.lines().next().unwrap_or_default().to_owned())
        }
        None => std::env::var(variable)
            .map_err(|_| anyhow::anyhow!("no {what}: give {flag} <file> or set {variable}")),
    }
}

fn admin_service(args: &RealSiteArgs) -> anyhow::Result<AdminService> {
    let authentication = match (&args.admin_service_user, &args.entra_client_id) {
        (Some(user), _) => {
            let account = WindowsAccount::new(
                user,
                secret(
                    args.admin_service_password_file.as_ref(),
                    "ADMIN_SERVICE_PASSWORD",
                    &format!("password for {user}"),
                    "--admin-service-password-file",
                )?,
            )?;
            Authentication::Windows(match &args.kdc {
                Some(kdc) => account.with_kdc(kdc)?,
                None => account,
            })
        }
        (None, Some(client_id)) => Authentication::Entra(EntraClient {
            authority: args.entra_authority.clone(),
            tenant: args.entra_tenant.clone().unwrap_or_default(),
            client_id: client_id.clone(),
            credential: match &args.entra_certificate_file {
                Some(path) => EntraCredential::Certificate(
                    EntraCertificate::from_pem(&read_file(path, "certificate file")?)
                        .map_err(|error| anyhow::anyhow!("{}: {error:#}", path.display()))?,
                ),
                None => EntraCredential::Secret(secret(
                    args.entra_client_secret_file.as_ref(),
                    "ENTRA_CLIENT_SECRET",
                    "client secret",
                    "--entra-client-secret-file",
                )?),
            },
            scope: args.entra_scope.clone().unwrap_or_default(),
            authority_ca: None,
        }),
        (None, None) => anyhow::bail!("give --admin-service-user or --entra-client-id"),
    };
    let trust = match (&args.admin_service_ca, &args.admin_service_pin) {
        (Some(path), _) => Trust::Ca(read_file(path, "CA file")?),
        (None, Some(pin)) => Trust::Pin(site_connector::admin_service::tls::parse_pin(pin)?),
        (None, None) => Trust::Platform,
    };
    AdminService::new(&AdminServiceConfig {
        url: args.admin_service.clone(),
        authentication,
        trust,
    })
}

async fn check(
    args: RealSiteArgs,
    server: Option<String>,
    ca_file: Option<PathBuf>,
) -> anyhow::Result<std::process::ExitCode> {
    let service = admin_service(&args)?;
    let center = match server {
        Some(url) => Some(AdminCenter {
            url,
            ca_pem: ca_file
                .as_ref()
                .map(|p| read_file(p, "CA file"))
                .transpose()?,
        }),
        None => None,
    };
    let results = checks::run(&service, center.as_ref()).await;
    let mut failed = false;
    for check in &results {
        let mark = match check.result {
            admin_api::CheckResult::Passed => "passed ",
            admin_api::CheckResult::Failed => {
                failed = true;
                "FAILED "
            }
            admin_api::CheckResult::Skipped => "skipped",
        };
        match &check.message {
            Some(message) => println!("{mark}  {}: {message}", check.check),
            None => println!("{mark}  {}", check.check),
        }
    }
    Ok(if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

/// `run`'s arguments, read again (the Windows service keeps them in its command line).
#[cfg_attr(not(windows), allow(dead_code))]
fn run_arguments(arguments: &[String]) -> anyhow::Result<(RealSiteArgs, ConnectorArgs)> {
    let cli = Cli::try_parse_from(
        std::iter::once("site-connector".to_owned()).chain(arguments.iter().cloned()),
    )?;
    match cli.command {
        Some(Command::Run { site, connector }) => Ok((site, connector)),
        _ => anyhow::bail!("a service runs `site-connector run …`: give `run` and its arguments"),
    }
}

async fn real(
    args: RealSiteArgs,
    connector: ConnectorArgs,
    token: Option<String>,
    stop: CancellationToken,
) -> anyhow::Result<std::process::ExitCode> {
    let folder = match connector.state {
        Some(folder) => folder,
        None => run::default_state_folder()?,
    };
    let kept = run::kept(&folder)?;
    let server = match (&connector.server, &kept, &token) {
        (Some(server), _, _) => server.clone(),
        (None, Some(kept), None) => kept.server.clone(),
        _ => anyhow::bail!("give the admin center's address with --server"),
    };
    let ca_pem = connector
        .ca_file
        .as_ref()
        .map(|p| read_file(p, "CA file"))
        .transpose()?;
    let site = RealSite::connect(
        admin_service(&args)?,
        RealSiteOptions {
            collection: args.collection.clone(),
            include_child_collections: args.include_child_collections,
            page_size: connector.batch_size.max(1),
            action_deadline: connector.action_deadline,
            state_folder: Some(folder.clone()),
            user_check: args.user_check == "on",
            admin_center: Some(AdminCenter {
                url: server.clone(),
                ca_pem: ca_pem.clone(),
            }),
            ..RealSiteOptions::default()
        },
    )
    .await?;
    let options = SiteOptions {
        batch_size: connector.batch_size,
        delta_every: Some(connector.delta_every),
        full_every: Some(connector.full_every),
        report_every: Some(connector.report_every),
        ca_pem,
        ..SiteOptions::default()
    };
    let how = match (token, kept) {
        (Some(_), Some(_)) => anyhow::bail!(
            "{} already holds an attached connector: serve it with `site-connector run`, or give another --state folder",
            folder.display()
        ),
        (Some(token), None) => Kept::Attach(token),
        (None, Some(kept)) => Kept::Resume(kept),
        (None, None) => anyhow::bail!(
            "{} holds no attached connector: attach first with `site-connector attach --onboarding-token <token>`",
            folder.display()
        ),
    };
    run::serve_site(&server, &folder, how, site, options, stop).await
}

async fn simulated(args: Simulated) -> anyhow::Result<std::process::ExitCode> {
    let server = args.server.clone().ok_or_else(|| {
        anyhow::anyhow!(
            "give the admin center's address with --server (or a subcommand: attach, run, check; see --help)"
        )
    })?;
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
    let options = SiteOptions {
        batch_size: args.batch_size,
        ca_pem: args
            .ca_file
            .as_ref()
            .map(|p| read_file(p, "CA file"))
            .transpose()?,
        ..SiteOptions::default()
    };
    let Some(folder) = args.state else {
        let token = args.onboarding_token.ok_or_else(|| {
            anyhow::anyhow!(
                "no connector state to resume: attach once with --onboarding-token (and --state to keep its credential)"
            )
        })?;
        let site =
            site_connector::SiteConnector::attach(&server, &token, hierarchy, options).await?;
        return run::upload_and_serve(site, args.once, false, run::stopped_by_interrupt()).await;
    };
    let how = match (run::kept(&folder)?, args.onboarding_token) {
        (Some(kept), _) => Kept::Resume(kept),
        (None, Some(token)) => Kept::Attach(token),
        (None, None) => anyhow::bail!(
            "no connector state to resume: attach once with --onboarding-token (and --state to keep its credential)"
        ),
    };
    if args.once {
        let site = run::connect(&server, &folder, how, hierarchy, options).await?;
        return run::upload_and_serve(site, true, false, CancellationToken::new()).await;
    }
    run::serve_site(
        &server,
        &folder,
        how,
        hierarchy,
        options,
        run::stopped_by_interrupt(),
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn a_service_keeps_run_and_its_arguments_only() {
        let run: Vec<String> = [
            "run",
            "--admin-service",
            "https://cm01.contoso.com/AdminService",
            "--admin-service-user",
            "CONTOSO\\svc",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (site, connector) = super::run_arguments(&run).unwrap();
        assert_eq!(site.admin_service_user.as_deref(), Some("CONTOSO\\svc"));
        assert_eq!(connector.delta_every, std::time::Duration::from_secs(900));
        let mut attach = run.clone();
        attach[0] = "attach".into();
        assert!(super::run_arguments(&attach).is_err());
    }
}
