//! Windows integrated authentication to the AdminService, as IIS asks for it
//! (`WWW-Authenticate: Negotiate`): SPNEGO with NTLM inside, through Devolutions' `sspi` (a
//! pure-Rust SSPI). The handshake is bound to one connection; [`super::AdminService`] keeps its
//! requests on one connection at a time so that the legs of a handshake share it.

use base64::Engine;
use sspi::{
    AuthIdentity, BufferType, ClientRequestFlags, CredentialUse, Credentials, DataRepresentation,
    Negotiate, NegotiateConfig, SecurityBuffer, SecurityStatus, Sspi, SspiImpl, Username,
};

/// The account the connector reads the site with: `DOMAIN\name` (or `name@domain`) and its
/// password. The password is never printed.
#[derive(Clone)]
pub struct WindowsAccount {
    user: String,
    password: String,
}

impl std::fmt::Debug for WindowsAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowsAccount")
            .field("user", &self.user)
            .field("password", &"(hidden)")
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
        })
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
        let ntlm = sspi::ntlm::NtlmConfig::new(workstation.clone());
        // Kerberos needs a KDC this library would reach over the network; NTLM inside
        // Negotiate is what IIS's Windows authentication accepts without one.
        let mut context = Negotiate::new_client(NegotiateConfig::new(
            Box::new(ntlm),
            Some("!kerberos,ntlm".into()),
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
    pub fn next_token(&mut self, server_token: Option<&[u8]>) -> anyhow::Result<Vec<u8>> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.step(server_token)))
            .unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "the server's authentication token cannot be read"
                ))
            })
    }

    fn step(&mut self, server_token: Option<&[u8]>) -> anyhow::Result<Vec<u8>> {
        let mut input = vec![SecurityBuffer::new(
            server_token.map(<[u8]>::to_vec).unwrap_or_default(),
            BufferType::Token,
        )];
        let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let mut builder = self
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
            .with_output(&mut output);
        if server_token.is_some() {
            builder = builder.with_input(&mut input);
        }
        let result = self
            .context
            .initialize_security_context_impl(&mut builder)?
            .resolve_to_result()?;
        if matches!(
            result.status,
            SecurityStatus::CompleteAndContinue | SecurityStatus::CompleteNeeded
        ) {
            self.context.complete_auth_token(&mut output)?;
        }
        Ok(std::mem::take(&mut output[0].buffer))
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

    #[test]
    fn a_malformed_server_token_is_an_error_not_a_crash() {
        let account = WindowsAccount::new("CONTOSO\\svc", "secret".into()).unwrap();
        let mut handshake = Handshake::start(&account, "cm01.contoso.com").unwrap();
        let first = handshake.next_token(None).unwrap();
        assert!(!first.is_empty());
        for garbage in [&b""[..], b"\xa1\x03\x0a\x01", &[0xff; 64]] {
            assert!(handshake.next_token(Some(garbage)).is_err());
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
