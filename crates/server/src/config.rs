use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// `admin-server [COMMAND] [OPTIONS]`: serves unless a command says otherwise.
#[derive(Debug, Clone, Parser)]
#[command(name = "admin-server", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the admin center (the default).
    Serve,
    /// Create a one-time onboarding token for a new site, print it once, and exit.
    OnboardingToken,
    /// Manage local accounts: add, list, set roles, set a password.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage roles: list them, or add a custom role from a set of permissions.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Copy this admin center's SQLite database (the --database-url given before the command, or
    /// ADMIN_DATABASE_URL) into an empty PostgreSQL database, all of it in one transaction. Stop
    /// the admin center first.
    MigrateTo {
        /// The PostgreSQL database to copy into, e.g. postgres://attach@db.contoso.com/attach.
        #[arg(long = "database-url")]
        target: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Add an account. Without --password-stdin a password is generated and printed once.
    Add {
        /// Sign-in name, e.g. jane@contoso.com.
        user_name: String,
        #[arg(long)]
        display_name: Option<String>,
        /// A role by display name (repeat for several), e.g. "Help Desk Operator".
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts and their roles.
    List,
    /// Replace an account's roles.
    SetRoles {
        user_name: String,
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// Set a new password (generated and printed once without --password-stdin); ends the
    /// account's sessions.
    SetPassword {
        user_name: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum RoleCommand {
    /// List the roles with their permissions.
    List,
    /// Add a custom role, e.g. `role add "Sync only" --permission managedDevices.read
    /// --permission remoteTasks.configurationManagerAction`.
    Add {
        display_name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// A permission by its contract name (repeat for several).
        #[arg(long = "permission", required = true)]
        permissions: Vec<String>,
    },
    /// Assign a role to a value of the provider's roles claim (an app role's value, or a group's
    /// id with --oidc-roles-claim groups): users whose ID token carries it hold the role from
    /// their next sign-in.
    Assign {
        role: String,
        #[arg(long = "claim-value")]
        claim_value: String,
    },
    /// Take a role from a claim value (from each user's next sign-in).
    Unassign {
        role: String,
        #[arg(long = "claim-value")]
        claim_value: String,
    },
}

fn duration(text: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(text)
}

/// The audit log's retention: a duration of at least a day.
fn retention(text: &str) -> Result<Duration, String> {
    let kept = duration(text).map_err(|error| error.to_string())?;
    if kept < Duration::from_secs(24 * 3600) {
        return Err("the audit log is kept at least a day (e.g. 365days, 90d)".into());
    }
    Ok(kept)
}

/// A reverse proxy's address, or a network of them (`10.0.0.5`, `10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy(pub ipnet::IpNet);

impl std::str::FromStr for TrustedProxy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(address) = text.parse::<std::net::IpAddr>() {
            return Ok(Self(address.into()));
        }
        text.parse::<ipnet::IpNet>()
            .map(Self)
            .map_err(|_| format!("`{text}` is not an IP address or a network such as 10.0.0.0/8"))
    }
}

/// The admin center's server: the admin API, the connector protocol and the SPA.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "ADMIN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Serve HTTPS with this certificate chain (PEM), for a deployment without a reverse proxy
    /// that terminates TLS. Needs --tls-key. Session cookies are then always Secure.
    #[arg(long, env = "ADMIN_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "ADMIN_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// The database: a SQLite URL (the file and its folder are created when missing), or a
    /// PostgreSQL one (postgres://…) that several instances may share (docs/scale-out.md).
    #[arg(
        long,
        env = "ADMIN_DATABASE_URL",
        default_value = "sqlite:data/admin-center.db"
    )]
    pub database_url: String,

    /// Folder of the built SPA (Trunk's output).
    #[arg(long, env = "ADMIN_DIST", default_value = "dist")]
    pub dist: PathBuf,

    /// Log filter, e.g. `info` or `admin_server=debug,info`.
    #[arg(long, env = "ADMIN_LOG", default_value = "info")]
    pub log_level: String,

    #[arg(long, env = "ADMIN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Seed a demo tenant into an empty database.
    #[arg(long, env = "ADMIN_DEMO")]
    pub demo: bool,

    /// Demo mode: the file its sites' credentials are kept in, so that a restart resumes them.
    /// By default demo-sites.json beside the SQLite database; with PostgreSQL there is no such
    /// folder, so demo mode needs this.
    #[arg(long, env = "ADMIN_DEMO_SITES", requires = "demo")]
    pub demo_sites: Option<PathBuf>,

    /// Origins allowed to call the API from another origin (CORS); `*` for any. None by default.
    #[arg(long, env = "ADMIN_CORS_ALLOW_ORIGIN", value_delimiter = ',')]
    pub cors_allow_origin: Vec<String>,

    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` names the client: the audit
    /// log, throttling and the access log then see the client's address. None by default: a
    /// client's own `X-Forwarded-For` is never believed.
    #[arg(long, env = "ADMIN_TRUSTED_PROXY", value_delimiter = ',')]
    pub trusted_proxy: Vec<TrustedProxy>,

    /// Audit events older than this are removed by the background work (the removal is itself
    /// recorded). At least a day.
    #[arg(long, env = "ADMIN_AUDIT_RETENTION", value_parser = retention, default_value = "365days")]
    pub audit_retention: Duration,

    /// Largest request body accepted, in bytes (device batches of the connector protocol too).
    #[arg(long, env = "ADMIN_BODY_LIMIT", default_value_t = 8 * 1024 * 1024)]
    pub body_limit: usize,

    /// An action the site has not answered within this time is `timedOut`.
    #[arg(long, env = "ADMIN_ACTION_TIMEOUT", value_parser = duration, default_value = "10m")]
    pub action_timeout: Duration,

    /// A site request (client details, inventory, a CMPivot query, a script) that the site has
    /// not answered within this time is `timedOut`.
    #[arg(long, env = "ADMIN_SITE_REQUEST_TIMEOUT", value_parser = duration, default_value = "2m")]
    pub site_request_timeout: Duration,

    /// Devices one bulk action may reach (a filter matching more is refused).
    #[arg(long, env = "ADMIN_BULK_ACTION_LIMIT", default_value_t = admin_api::bulk::MAX_BULK_DEVICES, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub bulk_action_limit: u64,

    /// Site requests one user may have in progress at once.
    #[arg(long, env = "ADMIN_SITE_REQUESTS_PER_USER", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub site_requests_per_user: u32,

    /// Site requests one connector may have in progress at once (all users together).
    #[arg(long, env = "ADMIN_SITE_REQUESTS_PER_CONNECTOR", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub site_requests_per_connector: u32,

    /// An offboarding that no site confirms completes after this grace period.
    #[arg(long, env = "ADMIN_OFFBOARD_GRACE", value_parser = duration, default_value = "2h")]
    pub offboard_grace: Duration,

    /// A connector heard from within this window is online.
    #[arg(long, env = "ADMIN_ONLINE_WINDOW", value_parser = duration, default_value = "90s")]
    pub online_window: Duration,

    /// How long an onboarding token stays valid.
    #[arg(long, env = "ADMIN_ONBOARDING_TOKEN_LIFETIME", value_parser = duration, default_value = "24h")]
    pub onboarding_token_lifetime: Duration,

    /// A session unused for this long ends.
    #[arg(long, env = "ADMIN_SESSION_IDLE_TIMEOUT", value_parser = duration, default_value = "1h")]
    pub session_idle_timeout: Duration,

    /// A session ends this long after sign-in, used or not.
    #[arg(long, env = "ADMIN_SESSION_LIFETIME", value_parser = duration, default_value = "12h")]
    pub session_lifetime: Duration,

    /// Mark the session cookie Secure even when no proxy says the request came over HTTPS
    /// (it is always Secure when `X-Forwarded-Proto: https` says so).
    #[arg(long, env = "ADMIN_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Requests a signed-in user may make per second, sustained.
    #[arg(long, env = "ADMIN_USER_REQUESTS_PER_SECOND", default_value_t = 20)]
    pub user_requests_per_second: u32,

    /// Requests a signed-in user may make at once above the sustained rate.
    #[arg(long, env = "ADMIN_USER_REQUEST_BURST", default_value_t = 200)]
    pub user_request_burst: u32,

    /// Requests a site's connector may make per second, sustained.
    #[arg(
        long,
        env = "ADMIN_CONNECTOR_REQUESTS_PER_SECOND",
        default_value_t = 100
    )]
    pub connector_requests_per_second: u32,

    /// Requests a site's connector may make at once above the sustained rate.
    #[arg(long, env = "ADMIN_CONNECTOR_REQUEST_BURST", default_value_t = 1000)]
    pub connector_request_burst: u32,

    /// Sign-in attempts for one account before they are throttled.
    #[arg(long, env = "ADMIN_SIGN_IN_ACCOUNT_BURST", default_value_t = 10)]
    pub sign_in_account_burst: u32,

    /// Once throttled, one more attempt for an account per this interval.
    #[arg(long, env = "ADMIN_SIGN_IN_ACCOUNT_INTERVAL", value_parser = duration, default_value = "30s")]
    pub sign_in_account_interval: Duration,

    /// Sign-in attempts from one address before they are throttled.
    #[arg(long, env = "ADMIN_SIGN_IN_ADDRESS_BURST", default_value_t = 30)]
    pub sign_in_address_burst: u32,

    /// Once throttled, one more attempt from an address per this interval.
    #[arg(long, env = "ADMIN_SIGN_IN_ADDRESS_INTERVAL", value_parser = duration, default_value = "2s")]
    pub sign_in_address_interval: Duration,

    /// Onboarding attempts (`POST /onboard`) from one address before they are throttled.
    #[arg(long, env = "ADMIN_ONBOARD_ADDRESS_BURST", default_value_t = 10)]
    pub onboard_address_burst: u32,

    /// Once throttled, one more onboarding attempt from an address per this interval.
    #[arg(long, env = "ADMIN_ONBOARD_ADDRESS_INTERVAL", value_parser = duration, default_value = "6s")]
    pub onboard_address_interval: Duration,

    /// Demo mode: the password of the demo users instead of a generated one (for tests).
    #[arg(long, env = "ADMIN_DEMO_PASSWORD", hide_env_values = true)]
    pub demo_password: Option<String>,

    /// A CSV export whose client reads nothing for this long is ended, and its database
    /// connection given back.
    #[arg(long, env = "ADMIN_EXPORT_STALL_TIMEOUT", value_parser = duration, default_value = "30s")]
    pub export_stall_timeout: Duration,

    /// A request's headers must all arrive within this long of its first byte, or its connection
    /// is closed.
    #[arg(long, env = "ADMIN_HEADER_READ_TIMEOUT", value_parser = duration, default_value = "10s")]
    pub header_read_timeout: Duration,

    /// A request body that sends nothing for this long is refused (400) and its connection
    /// closed: the time between bytes, so an upload at any steady pace goes on.
    #[arg(long, env = "ADMIN_BODY_READ_TIMEOUT", value_parser = duration, default_value = "30s")]
    pub body_read_timeout: Duration,

    /// A connection with no request under way is closed after this long.
    #[arg(long, env = "ADMIN_KEEP_ALIVE_TIMEOUT", value_parser = duration, default_value = "60s")]
    pub keep_alive_timeout: Duration,

    /// Most connections open at once; one over it is answered 503 (Retry-After) and closed.
    /// Event streams and sites' long polls each hold one.
    #[arg(long, env = "ADMIN_MAX_CONNECTIONS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Refusals that repeat (the same answer to the same address) are logged once, then summed
    /// up after this long instead of one line each.
    #[arg(long, env = "ADMIN_REFUSAL_LOG_WINDOW", value_parser = duration, default_value = "60s")]
    pub refusal_log_window: Duration,

    /// How often timeouts and due offboardings are looked for.
    #[arg(long, env = "ADMIN_SWEEP_INTERVAL", value_parser = duration, default_value = "1s")]
    pub sweep_interval: Duration,

    /// The organization's OpenID Connect provider, by its issuer URL (Entra ID:
    /// https://login.microsoftonline.com/<tenant id>/v2.0): the sign-in page then offers
    /// "Sign in with <--oidc-display-name>". Needs --oidc-client-id, a client secret
    /// (--oidc-client-secret-file or ADMIN_OIDC_CLIENT_SECRET) and --public-url. Roles are
    /// assigned to the roles claim's values with `role assign` (docs/sign-in.md).
    #[arg(long, env = "ADMIN_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    /// The admin center's client id at the provider (Entra ID: the app registration's
    /// application id).
    #[arg(long, env = "ADMIN_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,

    /// A file holding the client secret (its first line); or give it in ADMIN_OIDC_CLIENT_SECRET.
    #[arg(long, env = "ADMIN_OIDC_CLIENT_SECRET_FILE")]
    pub oidc_client_secret_file: Option<PathBuf>,

    /// The address users reach the admin center at, e.g. https://attach.contoso.com: the
    /// provider's redirect and logout addresses are made from it (and printed at start).
    #[arg(long, env = "ADMIN_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// The sign-in button's name for the provider ("Sign in with <name>"), e.g. Contoso.
    #[arg(
        long,
        env = "ADMIN_OIDC_DISPLAY_NAME",
        default_value = "your organization"
    )]
    pub oidc_display_name: String,

    /// The ID token's claim that holds the values roles are assigned to: `roles` (Entra ID's app
    /// roles) or `groups`.
    #[arg(long, env = "ADMIN_OIDC_ROLES_CLAIM", value_enum, default_value_t = RolesClaim::Roles)]
    pub oidc_roles_claim: RolesClaim,

    /// Whether local accounts may sign in with their password (the break-glass way in when a
    /// provider is configured). `off` hides the form and refuses local sign-in; the command line
    /// still makes and resets accounts.
    #[arg(long, env = "ADMIN_LOCAL_SIGN_IN", value_enum, default_value_t = Switch::On)]
    pub local_sign_in: Switch,
}

/// The claim roles are assigned to the values of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RolesClaim {
    Roles,
    Groups,
}

impl RolesClaim {
    pub fn name(self) -> &'static str {
        match self {
            Self::Roles => "roles",
            Self::Groups => "groups",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// Settings for a test: port 0 on loopback, the given database and dist folder, no demo.
    pub fn for_test(database_url: String, dist: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls_cert: None,
            tls_key: None,
            database_url,
            dist,
            log_level: "warn".into(),
            log_format: LogFormat::Text,
            demo: false,
            demo_sites: None,
            cors_allow_origin: Vec::new(),
            trusted_proxy: Vec::new(),
            audit_retention: Duration::from_secs(365 * 24 * 3600),
            body_limit: 8 * 1024 * 1024,
            action_timeout: Duration::from_secs(600),
            site_request_timeout: Duration::from_secs(120),
            bulk_action_limit: admin_api::bulk::MAX_BULK_DEVICES,
            site_requests_per_user: 5,
            site_requests_per_connector: 50,
            offboard_grace: Duration::from_secs(7200),
            online_window: Duration::from_secs(90),
            onboarding_token_lifetime: Duration::from_secs(24 * 3600),
            sweep_interval: Duration::from_millis(200),
            session_idle_timeout: Duration::from_secs(3600),
            session_lifetime: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            user_requests_per_second: 1000,
            user_request_burst: 10_000,
            connector_requests_per_second: 1000,
            connector_request_burst: 10_000,
            sign_in_account_burst: 100,
            sign_in_account_interval: Duration::from_secs(1),
            sign_in_address_burst: 1000,
            sign_in_address_interval: Duration::from_millis(10),
            demo_password: None,
            onboard_address_burst: 1000,
            onboard_address_interval: Duration::from_millis(10),
            export_stall_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(60),
            max_connections: 1000,
            refusal_log_window: Duration::from_secs(60),
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret_file: None,
            public_url: None,
            oidc_display_name: "your organization".into(),
            oidc_roles_claim: RolesClaim::Roles,
            local_sign_in: Switch::On,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
