//! Onboarding tokens and connector credentials: random, shown once, stored as SHA-256 (they are
//! high-entropy, so a fast hash is enough), compared in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 256 random bits, URL-safe, behind a prefix that says what the secret is.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Whether `secret` hashes to `stored`, in time that does not depend on where they differ.
pub fn matches(secret: &str, stored: &[u8]) -> bool {
    bool::from(hash(secret).ct_eq(stored))
}

/// A connector's credential is `<connector id>.<secret>`: the id finds the row, the secret proves it.
pub fn split_credential(credential: &str) -> Option<(&str, &str)> {
    credential
        .split_once('.')
        .filter(|(id, secret)| !id.is_empty() && !secret.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_matches_only_its_own_hash() {
        let secret = generate("cmsec_");
        assert!(secret.starts_with("cmsec_"));
        assert!(secret.len() > 40);
        let stored = hash(&secret);
        assert!(matches(&secret, &stored));
        assert!(!matches(&generate("cmsec_"), &stored));
        assert!(!matches(&secret, &stored[..16]));
    }

    #[test]
    fn credentials_split_into_id_and_secret() {
        assert_eq!(split_credential("abc.def"), Some(("abc", "def")));
        assert_eq!(split_credential("abc."), None);
        assert_eq!(split_credential("nodot"), None);
    }
}
