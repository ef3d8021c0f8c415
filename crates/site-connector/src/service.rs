//! `site-connector service install|uninstall`: the connector as a Windows service that starts
//! with the machine and runs `site-connector run …` (the arguments given after `--`), stopped
//! cleanly by the Service Control Manager. Elsewhere the command says to use the system's own
//! service manager (systemd: docs/attach-a-site.md).

/// The service's default name.
pub const NAME: &str = "AttachCenterSiteConnector";

#[derive(Debug, clap::Subcommand)]
pub enum ServiceAction {
    /// Install the service (automatic start, as LocalSystem unless --account): it runs
    /// `site-connector run` with the arguments after `--`. Give the password with
    /// --admin-service-password-file (a service has no environment of yours).
    Install {
        #[arg(long, default_value = NAME)]
        name: String,
        /// The account the service runs as (e.g. `CONTOSO\svc-attach`), LocalSystem by default.
        #[arg(long)]
        account: Option<String>,
        /// A file whose first line is that account's password (Windows needs it to start the
        /// service as the account); otherwise the SERVICE_ACCOUNT_PASSWORD environment variable.
        /// Not needed for group managed service accounts (`DOMAIN\name$`) or `NT SERVICE\…`,
        /// `NT AUTHORITY\…` accounts.
        #[arg(long, requires = "account")]
        account_password_file: Option<std::path::PathBuf>,
        /// `run` and its arguments, e.g. `-- run --admin-service https://… --state C:\…`.
        #[arg(last = true, required = true)]
        run: Vec<String>,
    },
    /// Stop and remove the service.
    Uninstall {
        #[arg(long, default_value = NAME)]
        name: String,
    },
}

/// Whether Windows needs a password to run a service as `account`: not for its built-in and
/// virtual accounts, nor for group managed service accounts (their names end in `$`).
#[cfg(any(windows, test))]
fn needs_password(account: &str) -> bool {
    let upper = account.to_ascii_uppercase();
    let built_in = [
        "NT AUTHORITY\\",
        "NT SERVICE\\",
        ".\\LOCALSYSTEM",
        "LOCALSYSTEM",
    ]
    .iter()
    .any(|prefix| upper.starts_with(prefix));
    !built_in && !account.ends_with('$')
}

/// The password of the service's account, when it needs one: from the file, or the
/// SERVICE_ACCOUNT_PASSWORD environment variable; never an argument.
#[cfg(any(windows, test))]
fn account_password(
    account: Option<&str>,
    file: Option<&std::path::PathBuf>,
) -> anyhow::Result<Option<String>> {
    let Some(account) = account.filter(|account| needs_password(account)) else {
        return Ok(None);
    };
    let password = crate::secret(
        file,
        "SERVICE_ACCOUNT_PASSWORD",
        &format!("password of {account}"),
        "--account-password-file",
    )
    .map_err(|error| {
        anyhow::anyhow!(
            "{error:#} (Windows needs it to run the service as {account}; a group managed service account, DOMAIN\\name$, needs none)"
        )
    })?;
    if password.is_empty() {
        anyhow::bail!("the password of {account} is empty");
    }
    Ok(Some(password))
}

#[cfg(not(windows))]
pub fn manage(_action: ServiceAction) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!(
        "Windows services exist on Windows only: here, run `site-connector run …` under the system's service manager (for systemd, see docs/attach-a-site.md)"
    )
}

#[cfg(not(windows))]
pub fn host(_name: String, _run: Vec<String>) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("the service host runs on Windows only")
}

#[cfg(windows)]
pub use windows::{host, manage};

#[cfg(windows)]
mod windows {
    use std::ffi::OsString;
    use std::process::ExitCode;
    use std::sync::OnceLock;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;
    use windows_service::service::{
        ServiceAccess, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode,
        ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
    };
    use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
    use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
    use windows_service::{define_windows_service, service_dispatcher};

    use super::ServiceAction;

    /// The service's name and `run` arguments, for the service's main (which Windows calls on a
    /// thread of its own, with arguments of its own).
    static LAUNCH: OnceLock<(String, Vec<String>)> = OnceLock::new();

    pub fn manage(action: ServiceAction) -> anyhow::Result<ExitCode> {
        match action {
            ServiceAction::Install {
                name,
                account,
                account_password_file,
                run,
            } => {
                // Refused now rather than when the service starts.
                crate::run_arguments(&run)?;
                let password =
                    super::account_password(account.as_deref(), account_password_file.as_ref())?;
                let manager = ServiceManager::local_computer(
                    None::<&str>,
                    ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
                )?;
                let mut launch: Vec<OsString> = vec![
                    "service-host".into(),
                    "--name".into(),
                    name.clone().into(),
                    "--".into(),
                ];
                launch.extend(run.into_iter().map(OsString::from));
                let info = ServiceInfo {
                    name: name.clone().into(),
                    display_name: "Attach Center site connector".into(),
                    service_type: ServiceType::OWN_PROCESS,
                    start_type: ServiceStartType::AutoStart,
                    error_control: ServiceErrorControl::Normal,
                    executable_path: std::env::current_exe()?,
                    launch_arguments: launch,
                    dependencies: vec![],
                    account_name: account.map(OsString::from),
                    account_password: password.map(OsString::from),
                };
                let service = manager.create_service(&info, ServiceAccess::CHANGE_CONFIG)?;
                service.set_description(
                    "Attaches this Configuration Manager site to the admin center: uploads its devices and runs the actions requested there.",
                )?;
                println!("Installed the service {name}; start it with `sc.exe start {name}`.");
                Ok(ExitCode::SUCCESS)
            }
            ServiceAction::Uninstall { name } => {
                let manager =
                    ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)?;
                let service = manager.open_service(
                    &name,
                    ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
                )?;
                if service.query_status()?.current_state != ServiceState::Stopped {
                    service.stop()?;
                }
                service.delete()?;
                println!("Removed the service {name}.");
                Ok(ExitCode::SUCCESS)
            }
        }
    }

    define_windows_service!(ffi_service_main, service_main);

    pub fn host(name: String, run: Vec<String>) -> anyhow::Result<ExitCode> {
        LAUNCH
            .set((name.clone(), run))
            .map_err(|_| anyhow::anyhow!("the service host started twice"))?;
        service_dispatcher::start(name, ffi_service_main)?;
        Ok(ExitCode::SUCCESS)
    }

    fn service_main(_arguments: Vec<OsString>) {
        if let Err(error) = serve() {
            tracing::error!(error = %format!("{error:#}"), "the service stopped on an error");
        }
    }

    fn status(state: ServiceState, code: u32) -> ServiceStatus {
        ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: if state == ServiceState::Running {
                ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
            } else {
                ServiceControlAccept::empty()
            },
            exit_code: ServiceExitCode::Win32(code),
            checkpoint: 0,
            wait_hint: Duration::from_secs(30),
            process_id: None,
        }
    }

    fn serve() -> anyhow::Result<()> {
        let (name, run) = LAUNCH
            .get()
            .cloned()
            .expect("set before the dispatcher starts");
        let stop = CancellationToken::new();
        let on_stop = stop.clone();
        let handle = service_control_handler::register(&name, move |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                on_stop.cancel();
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        })?;
        handle.set_service_status(status(ServiceState::Running, 0))?;
        let outcome = (|| {
            let (site, connector) = crate::run_arguments(&run)?;
            tokio::runtime::Runtime::new()?.block_on(crate::real(site, connector, None, stop))
        })();
        let code = match &outcome {
            Ok(code) if *code == ExitCode::SUCCESS => 0,
            _ => 1,
        };
        handle.set_service_status(status(ServiceState::Stopped, code))?;
        outcome.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_account_needs_its_password_unless_windows_manages_it() {
        assert!(needs_password("CONTOSO\\svc-attach"));
        assert!(needs_password("svc-attach@contoso.com"));
        assert!(!needs_password("CONTOSO\\gmsa-attach$"));
        assert!(!needs_password("NT AUTHORITY\\NetworkService"));
        assert!(!needs_password("NT SERVICE\\AttachCenterSiteConnector"));
        assert_eq!(account_password(None, None).unwrap(), None);
        assert_eq!(
            account_password(Some("CONTOSO\\gmsa$"), None).unwrap(),
            None
        );
        let folder = std::env::temp_dir().join(format!("service-password-{}", std::process::id()));
        std::fs::write(&folder, "s3cret\nignored\n").unwrap();
        assert_eq!(
            account_password(Some("CONTOSO\\svc"), Some(&folder)).unwrap(),
            Some("s3cret".into())
        );
        std::fs::write(&folder, "\n").unwrap();
        assert!(account_password(Some("CONTOSO\\svc"), Some(&folder)).is_err());
        std::fs::remove_file(&folder).unwrap();
    }
}
