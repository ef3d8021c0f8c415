use admin_server::config::{Cli, Command, LogFormat};
use admin_server::store::Store;
use admin_server::Server;
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Cli { command, config } = Cli::parse();
    let filter = EnvFilter::try_new(&config.log_level)?;
    match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init(),
    }

    if let Some(Command::OnboardingToken) = command {
        let store = Store::connect(&config.database_url).await?;
        let token = admin_server::routes::connectors::new_onboarding_token(&store, &config).await?;
        store.close().await;
        println!("{}", token.token);
        eprintln!(
            "One-time onboarding token, valid until {}. It is shown only now: give it to the site's service connection point.",
            token.expires_date_time
        );
        return Ok(());
    }

    let server = Server::start(&config, shutdown_signal()).await?;
    tracing::info!(database = %config.database_url, dist = %config.dist.display(), "started");
    println!("Admin center: open {} (Ctrl-C stops it)", server.url());
    server.finished().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        tokio::signal::ctrl_c()
            .await
            .expect("the Ctrl-C handler installs");
    };
    #[cfg(unix)]
    let terminate = async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("the SIGTERM handler installs")
            .recv()
            .await;
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
