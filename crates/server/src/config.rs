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
}

fn duration(text: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(text)
}

/// The admin center's server: the admin API, the connector protocol and the SPA.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "ADMIN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// SQLite database URL; the file and its folder are created when missing.
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

    /// Origins allowed to call the API from another origin (CORS); `*` for any. None by default.
    #[arg(long, env = "ADMIN_CORS_ALLOW_ORIGIN", value_delimiter = ',')]
    pub cors_allow_origin: Vec<String>,

    /// Largest request body accepted, in bytes (device batches of the connector protocol too).
    #[arg(long, env = "ADMIN_BODY_LIMIT", default_value_t = 8 * 1024 * 1024)]
    pub body_limit: usize,

    /// An action the site has not answered within this time is `timedOut`.
    #[arg(long, env = "ADMIN_ACTION_TIMEOUT", value_parser = duration, default_value = "10m")]
    pub action_timeout: Duration,

    /// An offboarding that no site confirms completes after this grace period.
    #[arg(long, env = "ADMIN_OFFBOARD_GRACE", value_parser = duration, default_value = "2h")]
    pub offboard_grace: Duration,

    /// A connector heard from within this window is online.
    #[arg(long, env = "ADMIN_ONLINE_WINDOW", value_parser = duration, default_value = "90s")]
    pub online_window: Duration,

    /// How long an onboarding token stays valid.
    #[arg(long, env = "ADMIN_ONBOARDING_TOKEN_LIFETIME", value_parser = duration, default_value = "24h")]
    pub onboarding_token_lifetime: Duration,

    /// How often timeouts and due offboardings are looked for.
    #[arg(long, env = "ADMIN_SWEEP_INTERVAL", value_parser = duration, default_value = "1s")]
    pub sweep_interval: Duration,
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
            database_url,
            dist,
            log_level: "warn".into(),
            log_format: LogFormat::Text,
            demo: false,
            cors_allow_origin: Vec::new(),
            body_limit: 8 * 1024 * 1024,
            action_timeout: Duration::from_secs(600),
            offboard_grace: Duration::from_secs(7200),
            online_window: Duration::from_secs(90),
            onboarding_token_lifetime: Duration::from_secs(24 * 3600),
            sweep_interval: Duration::from_millis(200),
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
