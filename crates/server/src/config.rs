use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The admin center's server: the admin API, the SPA, and (later) the connector protocol.
#[derive(Debug, Clone, Parser)]
#[command(name = "admin-server", version)]
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

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "ADMIN_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,
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
            body_limit: 1024 * 1024,
        }
    }
}
