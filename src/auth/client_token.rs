//! Client API tokens and the short codes that pair them with devices.
//!
//! A token is `rmm_` and 64 lowercase hex digits from the operating system's random source;
//! only its SHA-256 is stored. A value of any other shape is refused before the database is
//! asked. Pairing and device codes use RomM's alphabet, which leaves out the characters
//! people confuse (0/O, 1/I/L), and are stored hashed as well.

use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

/// The prefix of every client token.
pub const PREFIX: &str = "rmm_";

/// RomM's alphabet for codes people type.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// The length of pairing and device user codes.
pub const CODE_LENGTH: usize = 8;

/// A fresh raw client token with the hash to store.
pub fn generate_client_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = format!("{PREFIX}{}", hex::encode(bytes));
    let hash = Sha256::digest(token.as_bytes()).to_vec();
    (token, hash)
}

/// The SHA-256 of a well-formed client token, or `None` for any other value.
pub fn client_token_hash(token: &str) -> Option<Vec<u8>> {
    let digits = token.strip_prefix(PREFIX)?;
    let is_lower_hex = |byte: &u8| byte.is_ascii_digit() || (b'a'..=b'f').contains(byte);
    if digits.len() != 64 || !digits.as_bytes().iter().all(is_lower_hex) {
        return None;
    }
    Some(Sha256::digest(token.as_bytes()).to_vec())
}

/// A fresh code of [`CODE_LENGTH`] characters from [`CODE_ALPHABET`].
pub fn generate_code() -> String {
    (0..CODE_LENGTH)
        .map(|_| char::from(CODE_ALPHABET[OsRng.gen_range(0..CODE_ALPHABET.len())]))
        .collect()
}

/// A code as people type it, made canonical: dashes and spaces removed, upper-cased.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}

/// The stored form of a code: the SHA-256 of its canonical spelling.
pub fn code_hash(code: &str) -> Vec<u8> {
    Sha256::digest(normalize_code(code).as_bytes()).to_vec()
}

/// A fresh 64-hex-digit device code for the device-authorization flow.
pub fn generate_device_code() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_shape_clients_check() {
        let (token, hash) = generate_client_token();
        assert_eq!(token.len(), 68);
        assert!(token.starts_with("rmm_"));
        assert_eq!(client_token_hash(&token), Some(hash));
        assert_ne!(generate_client_token().0, token);
    }

    #[test]
    fn malformed_tokens_have_no_hash() {
        let upper = format!("rmm_{}", "A".repeat(64));
        let short = format!("rmm_{}", "a".repeat(63));
        let not_hex = format!("rmm_{}", "g".repeat(64));
        for token in [
            "rmm_",
            "rmm_abc",
            upper.as_str(),
            short.as_str(),
            not_hex.as_str(),
            "abc",
        ] {
            assert!(client_token_hash(token).is_none(), "{token}");
        }
    }

    #[test]
    fn codes_use_the_alphabet_and_normalise() {
        let code = generate_code();
        assert_eq!(code.len(), CODE_LENGTH);
        assert!(code.bytes().all(|byte| CODE_ALPHABET.contains(&byte)));
        assert_eq!(normalize_code("abcd-efgh"), "ABCDEFGH");
        assert_eq!(normalize_code(" ab cd-ef gh "), "ABCDEFGH");
        assert_eq!(code_hash("abcd-efgh"), code_hash("ABCDEFGH"));
    }
}
