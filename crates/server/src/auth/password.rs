//! Passwords: argon2id with a random salt per password, stored as a PHC string.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::Rng;

/// Shortest password the server accepts for a local account.
pub const MIN_LENGTH: usize = 12;

pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id hashes any password with default parameters")
        .to_string()
}

/// Whether `password` is the one `stored` was made from. Takes as long as a real check when
/// `stored` is `None` (an unknown account), so timing does not tell which accounts exist.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    static UNKNOWN_ACCOUNT: OnceLock<String> = OnceLock::new();
    let (phc, known) = match stored {
        Some(phc) => (phc, true),
        None => (
            UNKNOWN_ACCOUNT
                .get_or_init(|| hash("no account has this password"))
                .as_str(),
            false,
        ),
    };
    let matched = PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    });
    matched && known
}

/// Whether a password may be given to an account; the reason when not.
pub fn check_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LENGTH {
        return Err(format!(
            "A password needs at least {MIN_LENGTH} characters."
        ));
    }
    Ok(())
}

/// A password to print once: 20 characters from letters and digits that cannot be misread.
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let stored = hash("correct horse battery");
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", Some(&stored)));
        assert!(!verify("correct horse batterY", Some(&stored)));
        assert!(!verify("correct horse battery", None));
        assert_ne!(stored, hash("correct horse battery"), "salted");
    }

    #[test]
    fn generated_passwords_are_long_enough_and_differ() {
        let a = generate();
        assert!(check_strength(&a).is_ok());
        assert_ne!(a, generate());
        assert!(check_strength("short").is_err());
    }
}
