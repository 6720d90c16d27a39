//! Password hashing with argon2id at OWASP parameters (19 MiB, t=2, p=1).
//! Hashing is CPU-bound: callers run it on the blocking pool.
use std::sync::LazyLock;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::{SaltString, rand_core::OsRng},
};

fn argon2() -> Argon2<'static> {
    // OWASP: m=19456 KiB, t=2, p=1; these constants are valid by construction
    #[allow(clippy::expect_used)]
    let params = Params::new(19_456, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// True when `password` matches `stored`; a malformed stored hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(hash) => argon2().verify_password(password.as_bytes(), &hash).is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the e-mail is unknown, so that the answer
/// takes as long as for a real account.
pub static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    // a constant password at constant, valid parameters: hashing it fails
    // only if every login's would; a malformed stand-in would answer
    // unknown e-mails at once, telling them apart
    #[allow(clippy::expect_used)]
    hash_password("dummy password for unknown accounts").expect("argon2 hashes a constant password")
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsf", &hash));
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_salt() {
        let a = hash_password("same").expect("hash");
        let b = hash_password("same").expect("hash");
        assert_ne!(a, b);
    }

    #[test]
    fn a_malformed_stored_hash_never_matches() {
        assert!(!verify_password("anything", "not a hash"));
        assert!(!verify_password("", ""));
    }

    #[test]
    fn the_dummy_hash_is_a_real_argon2id_hash() {
        assert!(DUMMY_HASH.starts_with("$argon2id$"));
        assert!(PasswordHash::new(&DUMMY_HASH).is_ok());
    }
}
