//! The secrets in invite and password-reset links.
//!
//! A link token is 64 lowercase hex digits from the operating system's random source; only
//! its SHA-256 is stored. A value of any other shape is refused before the database is asked.

use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh raw link token with the hash to store.
pub fn generate_link_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let hash = Sha256::digest(token.as_bytes()).to_vec();
    (token, hash)
}

/// The SHA-256 of a well-formed link token, or `None` for any other value.
pub fn link_token_hash(token: &str) -> Option<Vec<u8>> {
    let is_lower_hex = |byte: &u8| byte.is_ascii_digit() || (b'a'..=b'f').contains(byte);
    if token.len() != 64 || !token.as_bytes().iter().all(is_lower_hex) {
        return None;
    }
    Some(Sha256::digest(token.as_bytes()).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_hashes_to_the_hash_stored_for_it() {
        let (token, hash) = generate_link_token();

        assert_eq!(token.len(), 64);
        assert_eq!(link_token_hash(&token), Some(hash));
    }

    #[test]
    fn two_generated_tokens_differ() {
        assert_ne!(generate_link_token().0, generate_link_token().0);
    }

    #[test]
    fn values_of_another_shape_have_no_hash() {
        let upper = "A".repeat(64);
        let short = "a".repeat(63);
        let long = "a".repeat(65);
        let not_hex = "g".repeat(64);
        let client_token = format!("rmm_{}", "a".repeat(64));

        for value in ["", &upper, &short, &long, &not_hex, &client_token] {
            assert_eq!(link_token_hash(value), None, "{value:?}");
        }
    }
}
