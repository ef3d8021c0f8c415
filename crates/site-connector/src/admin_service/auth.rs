//! Windows integrated authentication to the AdminService, as IIS asks for it
//! (`WWW-Authenticate: Negotiate`): SPNEGO with Kerberos inside when a domain controller (KDC)
//! answers, NTLM otherwise, through Devolutions' `sspi` (a pure-Rust SSPI). The handshake is
//! bound to one connection; [`super::AdminService`] keeps its requests on one connection at a
//! time so that the legs of a handshake share it.

use std::time::Duration;

use base64::Engine;
use sspi::generator::GeneratorState;
use sspi::{
    AuthIdentity, BufferType, ClientRequestFlags, CredentialUse, Credentials, DataRepresentation,
    KdcResolution, KerberosConfig, Negotiate, NegotiateConfig, NetworkProtocol, NetworkRequest,
    SecurityBuffer, SecurityStatus, Sspi, SspiImpl, Username,
};

/// The account the connector reads the site with: `DOMAIN\name` (or `name@domain`) and its
/// password. The password is never printed.
#[derive(Clone)]
pub struct WindowsAccount {
    user: String,
    password: String,
    /// The domain controller to ask for Kerberos tickets (`host[:port]`); `None`: found as the
    /// platform finds it (DNS on Windows; `SSPI_KDC_URL` or krb5.conf elsewhere).
    kdc: Option<String>,
}

impl std::fmt::Debug for WindowsAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowsAccount")
            .field("user", &self.user)
            .field("password", &"(hidden)")
            .field("kdc", &self.kdc)
            .finish()
    }
}

impl WindowsAccount {
    pub fn new(user: &str, password: String) -> anyhow::Result<Self> {
        if user.trim().is_empty() || user.chars().any(char::is_control) {
            anyhow::bail!("give the account as DOMAIN\\name (or name@domain)");
        }
        Username::parse(user).map_err(|error| {
            anyhow::anyhow!(
                "'{user}' is not an account name (DOMAIN\\name or name@domain): {error}"
            )
        })?;
        Ok(Self {
            user: user.to_owned(),
            password,
            kdc: None,
        })
    }

    /// Kerberos tickets from this domain controller (`host` or `host:port`; TCP, port 88 by
    /// default).
    pub fn with_kdc(mut self, kdc: &str) -> anyhow::Result<Self> {
        let kdc = kdc.trim();
        let url = sspi::kerberos::config::parse_kdc_url(kdc)
            .filter(|url| url.scheme() == "tcp" && url.host_str().is_some())
            .ok_or_else(|| {
                anyhow::anyhow!("'{kdc}' is not a domain controller's address (host or host:port)")
            })?;
        self.kdc = Some(url.to_string());
        Ok(self)
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    fn credentials(&self) -> Credentials {
        Credentials::AuthIdentity(AuthIdentity {
            username: Username::parse(&self.user).expect("checked when made"),
            password: self.password.clone().into(),
        })
    }
}

/// The scheme this module speaks, as it appears in `WWW-Authenticate` and `Authorization`.
pub const SCHEME: &str = "Negotiate";

/// How long one exchange with the domain controller may take.
const KDC_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest answer read from the domain controller (a ticket with a large PAC is tens of KB).
const MAX_KDC_ANSWER: usize = 1024 * 1024;

/// One handshake in progress, from the client's side.
pub struct Handshake {
    context: Negotiate,
    credentials: <Negotiate as SspiImpl>::CredentialsHandle,
    target: String,
}

impl Handshake {
    /// A handshake of `account` with the web server `host` (its service name is `HTTP/host`).
    pub fn start(account: &WindowsAccount, host: &str) -> anyhow::Result<Self> {
        let workstation = super::host_name();
        // Kerberos first; NTLM when no domain controller answers or it does not know the
        // service (sspi falls back by itself), or when the web server picks NTLM.
        let kerberos = KerberosConfig {
            kdc_resolution: KdcResolution::KdcUrl(
                account
                    .kdc
                    .as_deref()
                    .and_then(sspi::kerberos::config::parse_kdc_url),
            ),
            client_computer_name: workstation.clone(),
        };
        let mut context = Negotiate::new_client(NegotiateConfig::new(
            Box::new(kerberos),
            Some("kerberos,ntlm".into()),
            workstation,
        ))?;
        let credentials = context
            .acquire_credentials_handle()
            .with_credential_use(CredentialUse::Outbound)
            .with_auth_data(&account.credentials())
            .execute(&mut context)?
            .credentials_handle;
        Ok(Self {
            context,
            credentials,
            target: format!("HTTP/{host}"),
        })
    }

    /// The next token to send, given the server's last one (`None` at the start). A token the
    /// library cannot read (it may panic on malformed input) is an error, never a crash.
    pub async fn next_token(&mut self, server_token: Option<&[u8]>) -> anyhow::Result<Vec<u8>> {
        use futures::FutureExt;
        std::panic::AssertUnwindSafe(self.step(server_token))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "the server's authentication token cannot be read"
                ))
            })
    }

    async fn step(&mut self, server_token: Option<&[u8]>) -> anyhow::Result<Vec<u8>> {
        let mut input = vec![SecurityBuffer::new(
            server_token.map(<[u8]>::to_vec).unwrap_or_default(),
            BufferType::Token,
        )];
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        // An input buffer always, empty at the start (Kerberos reads one from the first step).
        let builder = self
            .context
            .initialize_security_context()
            .with_credentials_handle(&mut self.credentials)
            // Without INTEGRITY, a Windows acceptor refuses NTLM's message integrity code
            // inside SPNEGO.
            .with_context_requirements(
                ClientRequestFlags::MUTUAL_AUTH | ClientRequestFlags::INTEGRITY,
            )
            .with_target_data_representation(DataRepresentation::Native)
            .with_target_name(&self.target)
            .with_input(&mut input)
            .with_output(&mut output);
        // Kerberos asks the domain controller for tickets on the way.
        let mut builder = builder;
        let mut generator = self
            .context
            .initialize_security_context_impl(&mut builder)?;
        let mut state = generator.start();
        let result = loop {
            match state {
                GeneratorState::Suspended(request) => {
                    let answer = ask_kdc(&request).await;
                    state = generator.resume(answer);
                }
                GeneratorState::Completed(result) => break result?,
            }
        };
        drop(generator);
        if matches!(
            result.status,
            SecurityStatus::CompleteAndContinue | SecurityStatus::CompleteNeeded
        ) {
            self.context.complete_auth_token(&mut output)?;
        }
        Ok(std::mem::take(&mut output[0].buffer))
    }
}

/// One Kerberos message to the domain controller and its answer, over TCP as RFC 4120 frames it
/// (`sspi` hands the request framed and takes the answer framed: a 4-byte length first). Bounded
/// in time and size: a domain controller that stalls or sends without end fails the handshake
/// (and Negotiate falls back to NTLM), never the connector.
async fn ask_kdc(request: &NetworkRequest) -> sspi::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let unreachable =
        |message: String| sspi::Error::new(sspi::ErrorKind::NoAuthenticatingAuthority, message);
    if request.protocol != NetworkProtocol::Tcp {
        return Err(unreachable(format!(
            "the domain controller {} is reached over {:?}; give --kdc <host[:port]> to reach it over TCP",
            request.url, request.protocol
        )));
    }
    let host = request.url.host_str().unwrap_or_default().to_owned();
    let port = request.url.port().unwrap_or(88);
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
        stream.write_all(&request.data).await?;
        let length = stream.read_u32().await? as usize;
        if length > MAX_KDC_ANSWER {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("an answer of {length} bytes"),
            ));
        }
        let mut answer = vec![0; 4 + length];
        answer[..4].copy_from_slice(&(length as u32).to_be_bytes());
        stream.read_exact(&mut answer[4..]).await?;
        Ok(answer)
    };
    match tokio::time::timeout(KDC_TIMEOUT, exchange).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(error)) => Err(unreachable(format!(
            "the domain controller {host}:{port}: {error}"
        ))),
        Err(_) => Err(unreachable(format!(
            "the domain controller {host}:{port} did not answer within {} s",
            KDC_TIMEOUT.as_secs()
        ))),
    }
}

/// `Negotiate <base64>` for a token.
pub fn header(token: &[u8]) -> String {
    format!(
        "{SCHEME} {}",
        base64::engine::general_purpose::STANDARD.encode(token)
    )
}

/// The server's token in a `WWW-Authenticate: Negotiate <base64>` header, if it sent one.
pub fn server_token(www_authenticate: &str) -> Option<Vec<u8>> {
    let (scheme, token) = www_authenticate.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_malformed_server_token_is_an_error_not_a_crash() {
        let account = WindowsAccount::new("CONTOSO\\svc", "secret".into()).unwrap();
        let mut handshake = Handshake::start(&account, "cm01.contoso.com").unwrap();
        let first = handshake.next_token(None).await.unwrap();
        assert!(!first.is_empty());
        for garbage in [&b""[..], b"\xa1\x03\x0a\x01", &[0xff; 64]] {
            assert!(handshake.next_token(Some(garbage)).await.is_err());
        }
    }

    #[test]
    fn passwords_never_print() {
        let account = WindowsAccount::new("CONTOSO\\svc", "hunter2".into()).unwrap();
        assert!(!format!("{account:?}").contains("hunter2"));
        assert!(WindowsAccount::new("", "x".into()).is_err());
    }

    #[test]
    fn server_tokens_are_read_from_negotiate_headers_only() {
        assert_eq!(server_token("Negotiate AQID"), Some(vec![1, 2, 3]));
        assert_eq!(server_token("NTLM AQID"), None);
        assert_eq!(server_token("Negotiate"), None);
        assert_eq!(header(&[1, 2, 3]), "Negotiate AQID");
    }
}
