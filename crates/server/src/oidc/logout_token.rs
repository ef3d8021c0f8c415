//! Back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0, §2.4 and §2.6): a JWT
//! the provider posts to say that a user's session there ended. It is checked as an ID token is
//! (the provider's keys, RS256 only, issuer, audience, time) and as a logout token (`typ`,
//! `events`, no `nonce`, a `jti`, a `sub` or a `sid`). The `openidconnect` crate does not read
//! logout tokens; its keys verify the signature here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use openidconnect::JsonWebKey;
use serde_json::{Map, Value};

/// The event a logout token carries.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// The longest logout token read.
pub const LONGEST_TOKEN: usize = 16 * 1024;
/// The longest `sub`, `sid` or `jti` kept.
const LONGEST_CLAIM: usize = 256;
/// The clocks of the provider and the server may differ by this much.
const SKEW_SECONDS: i64 = 5 * 60;
/// Providers send a logout token at once: one issued longer ago than this is refused.
const OLDEST_SECONDS: i64 = 10 * 60;

/// What a valid logout token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutClaims {
    /// The user whose sessions end (`sub`), when the token names one.
    pub subject: Option<String>,
    /// The provider's session that ended (`sid`), when the token names one.
    pub provider_sid: Option<String>,
    pub jti: String,
    /// Until when (Unix seconds) a token like this one is accepted, and so its `jti` kept.
    pub kept_until: i64,
}

/// Why a logout token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Signed with a key the provider's published keys do not hold (they may have rotated).
    UnknownKey,
    Invalid(String),
}

fn invalid<T>(reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal::Invalid(reason.into()))
}

fn json_object(part: &str, what: &str) -> Result<Map<String, Value>, Refusal> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .or_else(|_| invalid(format!("its {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => invalid(format!("its {what} is not a JSON object")),
    }
}

/// A claim that must be a short string, when present.
fn short_text(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, Refusal> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(text)) if !text.is_empty() && text.chars().count() <= LONGEST_CLAIM => {
            Ok(Some(text.clone()))
        }
        Some(_) => invalid(format!(
            "its {name} is not a string of 1 to {LONGEST_CLAIM} characters"
        )),
    }
}

/// Checks `token` against the provider's `keys`, its `issuer` and this admin center's
/// `client_id` at `now` (Unix seconds).
pub fn verify(
    token: &str,
    keys: &[CoreJsonWebKey],
    issuer: &str,
    client_id: &str,
    now: i64,
) -> Result<LogoutClaims, Refusal> {
    if token.len() > LONGEST_TOKEN {
        return invalid(format!("it is longer than {LONGEST_TOKEN} bytes"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return invalid(if parts.len() == 5 {
            "it is encrypted (JWE), which this admin center does not accept"
        } else {
            "it is not a signed JWT (three parts)"
        });
    };
    let header = json_object(header, "header")?;
    if header.contains_key("crit") {
        return invalid("its header has critical extensions (crit), which are not understood here");
    }
    match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => {}
        Some(alg) => {
            return invalid(format!(
                "it is signed with {alg}; only RS256 is accepted, as for ID tokens"
            ))
        }
        None => return invalid("its header names no algorithm"),
    }
    if let Some(typ) = header.get("typ") {
        let typ = typ.as_str().unwrap_or_default().to_ascii_lowercase();
        if typ.strip_prefix("application/").unwrap_or(&typ) != "logout+jwt" {
            return invalid("its type (typ) is not logout+jwt");
        }
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .or_else(|_| invalid("its signature is not base64url"))?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return invalid("its key id (kid) is not a string"),
    };
    let candidates: Vec<&CoreJsonWebKey> = keys
        .iter()
        .filter(|key| kid.is_none() || key.key_id().map(|id| id.as_str()) == kid)
        .collect();
    if candidates.is_empty() {
        return Err(Refusal::UnknownKey);
    }
    let message = format!("{}.{}", parts[0], parts[1]);
    let signed = candidates.iter().any(|key| {
        key.verify_signature(
            &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            message.as_bytes(),
            &signature,
        )
        .is_ok()
    });
    if !signed {
        return invalid("its signature does not verify with the provider's key");
    }

    let claims = json_object(payload, "claims")?;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return invalid(format!("its issuer is not {issuer}"));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&client_id) || audiences.iter().any(|aud| *aud != client_id) {
        return invalid(format!(
            "its audience is not this admin center alone ({client_id})"
        ));
    }
    let Some(iat) = claims.get("iat").and_then(Value::as_i64) else {
        return invalid("it has no issue time (iat)");
    };
    if iat > now + SKEW_SECONDS {
        return invalid("it was issued in the future (iat)");
    }
    if iat < now - OLDEST_SECONDS - SKEW_SECONDS {
        return invalid("it was issued more than 10 minutes ago (iat)");
    }
    match claims.get("exp") {
        None => {}
        Some(exp) => match exp.as_i64() {
            Some(exp) if exp > now - SKEW_SECONDS => {}
            Some(_) => return invalid("it has expired (exp)"),
            None => return invalid("its expiry (exp) is not a number"),
        },
    }
    if claims.contains_key("nonce") {
        return invalid("it carries a nonce, which a logout token never does");
    }
    let event = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT));
    if !event.is_some_and(Value::is_object) {
        return invalid(format!("its events do not hold {BACKCHANNEL_LOGOUT_EVENT}"));
    }
    let Some(jti) = short_text(&claims, "jti")? else {
        return invalid("it has no token id (jti)");
    };
    let subject = short_text(&claims, "sub")?;
    let provider_sid = short_text(&claims, "sid")?;
    if subject.is_none() && provider_sid.is_none() {
        return invalid("it names neither a user (sub) nor a session (sid)");
    }
    Ok(LogoutClaims {
        subject,
        provider_sid,
        jti,
        kept_until: iat + OLDEST_SECONDS + SKEW_SECONDS,
    })
}
