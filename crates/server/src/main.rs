use std::io::BufRead;

use admin_server::auth::password;
use admin_server::config::{Cli, Command, LogFormat, RoleCommand, UserCommand};
use admin_server::store::audit::Actor;
use admin_server::store::users::NewUser;
use admin_server::store::Store;
use admin_server::Server;
use anyhow::{bail, Context};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than the system allocator: a list request allocates for every row, column
/// and JSON value, from several threads at once, and glibc's malloc spent about a fifth of the
/// server's CPU on it (and on its locks) under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Cli { command, config } = Cli::parse();
    // Logs go to standard error, so that standard output holds a command's data alone
    // (`TOKEN=$(admin-server onboarding-token)`), with colour only on a terminal and never with
    // NO_COLOR set.
    let filter = EnvFilter::try_new(&config.log_level)?;
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour_on_stderr());
    match config.log_format {
        LogFormat::Text => logs.with_env_filter(filter).init(),
        LogFormat::Json => logs.json().with_env_filter(filter).init(),
    }
    admin_server::log_panics_in_one_line();

    match command {
        None | Some(Command::Serve) => serve(&config).await,
        Some(command) => {
            let store = Store::connect(&config.database_url).await?;
            let result = run_command(&store, &config, command).await;
            store.close().await;
            result
        }
    }
}

/// Open files kept for the database, its files and everything but clients' connections.
const FILES_KEPT_FOR_THE_SERVER: u64 = 128;

async fn serve(config: &admin_server::Config) -> anyhow::Result<()> {
    let mut config = config.clone();
    // Connections are open files: the bound on them must leave room for the server's own, or
    // accepting would fail for everyone ("too many open files") before the bound answers anyone.
    if let Some(files) = admin_server::connections::raise_open_file_limit() {
        let room = files.saturating_sub(FILES_KEPT_FOR_THE_SERVER).max(1);
        if u64::from(config.max_connections) > room {
            tracing::warn!(
                asked = config.max_connections,
                open_file_limit = files,
                allowed = room,
                "--max-connections is more than the open-file limit leaves room for: lowered"
            );
            config.max_connections = u32::try_from(room).unwrap_or(u32::MAX);
        }
    }
    let config = &config;
    let server = Server::start(config, shutdown_signal()).await?;
    tracing::info!(database = %config.database_url, dist = %config.dist.display(), "started");
    if !server.demo_users.is_empty() {
        println!("Demo accounts (the passwords are shown only now):");
        for user in &server.demo_users {
            println!(
                "  {:<28} {:<22} {}",
                user.user_name, user.role, user.password
            );
        }
    }
    if let Some(oidc) = &server.state.oidc {
        let settings = &oidc.settings;
        println!(
            "Sign-in provider {} ({}): register these addresses with it:",
            settings.display_name,
            settings.issuer.as_str()
        );
        println!("  {:<28} {}", "redirect URI", settings.redirect_uri());
        println!(
            "  {:<28} {}",
            "post-logout redirect URI",
            settings.post_logout_uri()
        );
        println!(
            "  {:<28} {}",
            "back-channel logout URL",
            settings.backchannel_logout_uri()
        );
    }
    println!("Admin center: open {} (Ctrl-C stops it)", server.url());
    server.finished().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn run_command(
    store: &Store,
    config: &admin_server::Config,
    command: Command,
) -> anyhow::Result<()> {
    let actor = Actor::command_line();
    let now = time::OffsetDateTime::now_utc();
    match command {
        Command::Serve => unreachable!("served above"),
        Command::MigrateTo { target } => {
            for table in store.copy_into_postgres(&target).await? {
                println!("{:<20} {:>10} rows", table.table, table.rows);
            }
            eprintln!("Copied into the PostgreSQL database, in one transaction.");
        }
        Command::OnboardingToken => {
            let token =
                admin_server::domain::connectors::new_onboarding_token(store, config, &actor)
                    .await?;
            println!("{}", token.token);
            eprintln!(
                "One-time onboarding token, valid until {}. It is shown only now: give it to the site's service connection point.",
                token.expires_date_time
            );
        }
        Command::User(UserCommand::Add {
            user_name,
            display_name,
            roles,
            password_stdin,
        }) => {
            let (password, generated) = new_password(password_stdin)?;
            let hash =
                tokio::task::spawn_blocking(move || password::hash(&password.clone())).await?;
            let user = store
                .create_user(
                    &NewUser {
                        user_name: &user_name,
                        display_name: display_name.as_deref().unwrap_or(&user_name),
                        password_hash: &hash,
                        roles: &roles,
                    },
                    &actor,
                    now,
                )
                .await?;
            eprintln!(
                "Added {} with {}.",
                user.user_principal_name,
                roles_text(&user.roles)
            );
            print_generated(generated);
        }
        Command::User(UserCommand::List) => {
            for user in store.users().await? {
                println!(
                    "{:<32} {:<24} {}",
                    user.user_principal_name,
                    user.display_name,
                    roles_text(&user.roles)
                );
            }
        }
        Command::User(UserCommand::SetRoles { user_name, roles }) => {
            let credentials = store
                .credentials(&user_name)
                .await?
                .with_context(|| format!("there is no user '{user_name}'"))?;
            let user = store
                .set_user_roles(&credentials.id, &roles, None, &actor, now)
                .await?
                .with_context(|| format!("there is no user '{user_name}'"))?;
            eprintln!(
                "{} now has {}.",
                user.user_principal_name,
                roles_text(&user.roles)
            );
        }
        Command::User(UserCommand::SetPassword {
            user_name,
            password_stdin,
        }) => {
            let (password, generated) = new_password(password_stdin)?;
            let hash = tokio::task::spawn_blocking(move || password::hash(&password)).await?;
            if !store
                .set_password(&user_name, &hash, &actor, time::OffsetDateTime::now_utc())
                .await?
            {
                bail!("there is no user '{user_name}'");
            }
            eprintln!("Password of {user_name} set; their sessions have ended.");
            print_generated(generated);
        }
        Command::Role(RoleCommand::List) => {
            for role in store.role_definitions().await? {
                let permissions: Vec<&str> = role.permissions.iter().map(|p| p.as_str()).collect();
                let kind = if role.is_built_in {
                    "built-in"
                } else {
                    "custom"
                };
                println!("{} ({kind}): {}", role.display_name, permissions.join(", "));
            }
        }
        Command::Role(RoleCommand::Add {
            display_name,
            description,
            permissions,
        }) => {
            let permissions = permissions
                .iter()
                .map(|name| {
                    admin_api::Permission::from_wire(name).with_context(|| {
                        let known: Vec<&str> = admin_api::Permission::ALL
                            .iter()
                            .map(|p| p.as_str())
                            .collect();
                        format!(
                            "'{name}' is not a permission; they are: {}",
                            known.join(", ")
                        )
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let role = store
                .create_role_definition(
                    &admin_api::NewRoleDefinition {
                        display_name,
                        description,
                        permissions,
                    },
                    &actor,
                    now,
                )
                .await?;
            println!("{}", role.id);
            eprintln!("Added the role {} (its id above).", role.display_name);
        }
        Command::Role(RoleCommand::Assign { role, claim_value }) => {
            store
                .assign_claim_value(&role, &claim_value, &actor, now)
                .await?;
            eprintln!(
                "The role {role} is assigned to the claim value {claim_value}, from each user's next sign-in."
            );
        }
        Command::Role(RoleCommand::Unassign { role, claim_value }) => {
            store
                .unassign_claim_value(&role, &claim_value, &actor, now)
                .await?;
            eprintln!(
                "The role {role} is taken from the claim value {claim_value}, from each user's next sign-in."
            );
        }
    }
    Ok(())
}

/// A generated password on standard output, alone (the data of the command), with a word on
/// standard error that it is shown only now.
fn print_generated(generated: Option<String>) {
    if let Some(password) = generated {
        println!("{password}");
        eprintln!("The password above was generated and is shown only now.");
    }
}

/// Whether logs on standard error may be coloured: it is a terminal, and NO_COLOR is unset or
/// empty (no-color.org).
fn colour_on_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A password from standard input, or a generated one (returned again to print once).
fn new_password(from_stdin: bool) -> anyhow::Result<(String, Option<String>)> {
    if !from_stdin {
        let password = password::generate();
        return Ok((password.clone(), Some(password)));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    password::check_strength(&password).map_err(anyhow::Error::msg)?;
    Ok((password, None))
}

fn roles_text(roles: &[String]) -> String {
    if roles.is_empty() {
        "no roles".to_owned()
    } else {
        format!("the roles {}", roles.join(", "))
    }
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
