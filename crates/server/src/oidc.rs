//! Sign-in through the organization's OpenID Connect provider (issue 35): its settings, checked
//! when the server starts (a wrong one stops it with a message naming the flag), and its
//! metadata, discovered from the issuer through the `openidconnect` crate. A provider that cannot
//! be reached at start does not stop the server: it is asked again when someone signs in.

use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::CoreClient;
use openidconnect::url::{Host, Url};
/// The provider's metadata, with the end-session endpoint of RP-initiated logout when it has one.
pub use openidconnect::ProviderMetadataWithLogout as CoreProviderMetadata;
use openidconnect::{ClientId, ClientSecret, IssuerUrl};
use openidconnect::{EndpointMaybeSet, EndpointNotSet, EndpointSet, RedirectUrl};

use crate::config::{RolesClaim, Switch};
use crate::Config;

pub mod logout_token;

/// Where the provider sends a user back after sign-in, under the public URL.
pub const CALLBACK_PATH: &str = "/api/v1/session/oidc/callback";
/// Where the provider sends a user after signing out there.
pub const POST_LOGOUT_PATH: &str = "/signin";
/// Where the provider posts its back-channel logout tokens.
pub const BACKCHANNEL_LOGOUT_PATH: &str = "/api/v1/session/oidc/backchannel-logout";

/// How long one request to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// A token signed with a key the kept metadata does not list has the keys read again, at most
/// this often (a stream of forged tokens must not make the server hammer the provider).
pub const KEYS_REFETCHED_AT_MOST_EVERY: Duration = Duration::from_secs(60);
/// The provider's metadata and keys are read again this often anyway.
pub const KEYS_REFRESHED_EVERY: Duration = Duration::from_secs(3600);

/// The provider's settings, as the command line gives them and checked.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: IssuerUrl,
    pub client_id: ClientId,
    pub client_secret: ClientSecret,
    /// The address users reach the admin center at, without a trailing slash.
    pub public_url: String,
    pub display_name: String,
    pub roles_claim: RolesClaim,
}

impl OidcSettings {
    /// The provider's settings (`None` without `--oidc-issuer`), or why the server cannot start
    /// with them, naming the flag. `secret_from_env` is `ADMIN_OIDC_CLIENT_SECRET`'s value.
    pub fn from_config(
        config: &Config,
        secret_from_env: Option<String>,
    ) -> anyhow::Result<Option<Self>> {
        if config.local_sign_in == Switch::Off && config.demo {
            anyhow::bail!(
                "--local-sign-in off cannot be used with --demo: the demo's accounts are local ones"
            );
        }
        let Some(issuer) = &config.oidc_issuer else {
            if config.oidc_client_id.is_some() || config.oidc_client_secret_file.is_some() {
                anyhow::bail!(
                    "--oidc-client-id and --oidc-client-secret-file need --oidc-issuer (the provider's issuer URL)"
                );
            }
            if config.local_sign_in == Switch::Off {
                anyhow::bail!(
                    "--local-sign-in off needs --oidc-issuer: without a provider nobody could sign in"
                );
            }
            return Ok(None);
        };
        let issuer = checked_url("--oidc-issuer", issuer)?;
        let client_id = config
            .oidc_client_id
            .clone()
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--oidc-issuer needs --oidc-client-id (the admin center's client id at the provider)"
                )
            })?;
        let secret = match (&config.oidc_client_secret_file, secret_from_env) {
            (Some(file), _) => std::fs::read_to_string(file)
                .map_err(|error| {
                    anyhow::anyhow!(
                        "--oidc-client-secret-file {} cannot be read: {error}",
                        file.display()
                    )
                })?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
            (None, Some(secret)) => secret.trim().to_owned(),
            (None, None) => String::new(),
        };
        if secret.is_empty() {
            anyhow::bail!(
                "--oidc-issuer needs the client secret: give a file holding it with \
                 --oidc-client-secret-file, or set ADMIN_OIDC_CLIENT_SECRET"
            );
        }
        let public_url = config.public_url.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "--oidc-issuer needs --public-url (the address users reach the admin center at), \
                 from which the provider's redirect address is made"
            )
        })?;
        let public_url = checked_url("--public-url", public_url)?;
        Ok(Some(Self {
            issuer: IssuerUrl::new(issuer.as_str().trim_end_matches('/').to_owned())?,
            client_id: ClientId::new(client_id),
            client_secret: ClientSecret::new(secret),
            public_url: public_url.as_str().trim_end_matches('/').to_owned(),
            display_name: config.oidc_display_name.clone(),
            roles_claim: config.oidc_roles_claim,
        }))
    }

    /// The redirect URI to register with the provider.
    pub fn redirect_uri(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.public_url)
    }

    /// The post-logout redirect URI to register with the provider.
    pub fn post_logout_uri(&self) -> String {
        format!("{}{POST_LOGOUT_PATH}", self.public_url)
    }

    /// The back-channel logout URL to register with the provider.
    pub fn backchannel_logout_uri(&self) -> String {
        format!("{}{BACKCHANNEL_LOGOUT_PATH}", self.public_url)
    }
}

/// `text` as an address the server may use: https, or http on this machine's loopback, with no
/// query, fragment or credentials.
fn checked_url(flag: &str, text: &str) -> anyhow::Result<Url> {
    let url = Url::parse(text.trim()).map_err(|error| {
        anyhow::anyhow!("{flag} must be a URL, e.g. https://…: '{text}' is not one ({error})")
    })?;
    let loopback = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => anyhow::bail!(
            "{flag} must be an https:// URL (http:// only on this machine's loopback): got '{text}'"
        ),
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        anyhow::bail!("{flag} takes no query, fragment or user name: got '{text}'");
    }
    Ok(url)
}

/// The admin center as a client of the provider it discovered: its authorization endpoint set,
/// its token and user info endpoints as the metadata has them.
pub type ProviderClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The provider as the server talks to it: its settings and, once discovered, its metadata.
pub struct Oidc {
    pub settings: OidcSettings,
    http: openidconnect::reqwest::Client,
    /// The metadata (with the provider's keys) and when it was read.
    discovered: tokio::sync::Mutex<Option<(Arc<CoreProviderMetadata>, tokio::time::Instant)>>,
    /// When a token with an unknown key last had the keys read again.
    keys_refetched: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

/// The provider did not answer as a provider: why, in words for the sign-in page and the log.
#[derive(Debug, Clone, thiserror::Error)]
#[error("The sign-in provider at {issuer} could not be reached: {reason}")]
pub struct Unreachable {
    pub issuer: String,
    pub reason: String,
}

impl Oidc {
    pub fn new(settings: OidcSettings) -> anyhow::Result<Self> {
        // The provider's redirects are never followed: a token or discovery request that is
        // redirected elsewhere fails instead (as the crate's documentation asks, against SSRF).
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()?;
        Ok(Self {
            settings,
            http,
            discovered: tokio::sync::Mutex::new(None),
            keys_refetched: tokio::sync::Mutex::new(None),
        })
    }

    /// The admin center as the provider's client, from its metadata: its id, secret and redirect
    /// URI.
    pub fn client(&self, metadata: &CoreProviderMetadata) -> Result<ProviderClient, String> {
        let redirect = RedirectUrl::new(self.settings.redirect_uri())
            .map_err(|e| format!("the redirect URI is not a URL: {e}"))?;
        Ok(CoreClient::from_provider_metadata(
            metadata.clone(),
            self.settings.client_id.clone(),
            Some(self.settings.client_secret.clone()),
        )
        .set_redirect_uri(redirect))
    }

    /// Where to send the browser to end its session at the provider too (RP-initiated logout),
    /// coming back to the sign-in page; `None` when the provider has no end-session endpoint or
    /// cannot be reached.
    pub async fn sign_out_url(&self) -> Option<String> {
        let metadata = self.metadata().await.ok()?;
        let end = metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        let back =
            openidconnect::PostLogoutRedirectUrl::new(self.settings.post_logout_uri()).ok()?;
        Some(
            openidconnect::LogoutRequest::from(end)
                .set_client_id(self.settings.client_id.clone())
                .set_post_logout_redirect_uri(back)
                .http_get_url()
                .to_string(),
        )
    }

    /// The client the provider is asked through (no redirects followed).
    pub fn http(&self) -> &openidconnect::reqwest::Client {
        &self.http
    }

    /// The provider's metadata with its keys: discovered on first use (one discovery at a time)
    /// and kept, read again once older than [`KEYS_REFRESHED_EVERY`].
    pub async fn metadata(&self) -> Result<Arc<CoreProviderMetadata>, Unreachable> {
        self.discovered_within(KEYS_REFRESHED_EVERY).await
    }

    /// The metadata read again, for a token signed with a key it did not list; at most once per
    /// [`KEYS_REFETCHED_AT_MOST_EVERY`], the kept one otherwise.
    pub async fn metadata_with_new_keys(&self) -> Result<Arc<CoreProviderMetadata>, Unreachable> {
        let mut last = self.keys_refetched.lock().await;
        if last.is_some_and(|at| at.elapsed() < KEYS_REFETCHED_AT_MOST_EVERY) {
            return self.metadata().await;
        }
        *last = Some(tokio::time::Instant::now());
        self.discovered_within(Duration::ZERO).await
    }

    /// What a back-channel logout token says, once it holds (see [`logout_token::verify`]); a
    /// token signed with a key the kept metadata does not list has the keys read again, as an ID
    /// token does. Why it was refused otherwise, in words.
    pub async fn logout_claims(
        &self,
        token: &str,
        now: time::OffsetDateTime,
    ) -> Result<logout_token::LogoutClaims, String> {
        let check = |metadata: &CoreProviderMetadata| {
            logout_token::verify(
                token,
                metadata.jwks().keys(),
                self.settings.issuer.as_str(),
                self.settings.client_id.as_str(),
                now.unix_timestamp(),
            )
        };
        let metadata = self.metadata().await.map_err(|e| e.to_string())?;
        let checked = match check(&metadata) {
            Err(logout_token::Refusal::UnknownKey) => {
                let metadata = self
                    .metadata_with_new_keys()
                    .await
                    .map_err(|e| e.to_string())?;
                check(&metadata)
            }
            checked => checked,
        };
        checked.map_err(|refusal| match refusal {
            logout_token::Refusal::UnknownKey => {
                "it is signed with a key the provider does not publish".to_owned()
            }
            logout_token::Refusal::Invalid(reason) => reason,
        })
    }

    async fn discovered_within(
        &self,
        age: Duration,
    ) -> Result<Arc<CoreProviderMetadata>, Unreachable> {
        let mut discovered = self.discovered.lock().await;
        if let Some((metadata, at)) = discovered.as_ref() {
            if at.elapsed() < age {
                return Ok(metadata.clone());
            }
        }
        let metadata =
            CoreProviderMetadata::discover_async(self.settings.issuer.clone(), &self.http)
                .await
                .map_err(|error| Unreachable {
                    issuer: self.settings.issuer.to_string(),
                    reason: error_chain(&error),
                })?;
        let metadata = Arc::new(metadata);
        *discovered = Some((metadata.clone(), tokio::time::Instant::now()));
        Ok(metadata)
    }
}

/// An error and its sources, in one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
