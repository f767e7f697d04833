//! The master secret and the per-purpose keys derived from it.
//!
//! One secret is configured (or generated once and kept in the database, so that every
//! instance sharing the database agrees), and each use gets its own key derived by HMAC with
//! a purpose label. A key leaked from one purpose then says nothing about another.

use std::fmt;

use anyhow::Context;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::store::Store;

type HmacSha256 = Hmac<Sha256>;

/// The settings row that holds the generated master secret.
const SECRET_SETTING: &str = "auth_secret_key";

/// A 256-bit key for one purpose; its `Debug` shows nothing.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl Key {
    /// The HMAC-SHA256 of the given parts under this key, each part length-prefixed so that
    /// no two different part lists produce the same input.
    pub fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The raw key bytes, for libraries that take a key (the JWT signer).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A fresh HMAC-SHA256 keyed with this key, for a signature over input that is not split
    /// into parts as with [`Key::sign`].
    pub fn hmac(&self) -> Hmac<Sha256> {
        HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length")
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Key(redacted)")
    }
}

/// Every key the server uses, each derived from the master secret for one purpose.
#[derive(Clone, Debug)]
pub struct Keys {
    /// Signs CSRF tokens and binds them to the session cookie.
    pub csrf: Key,
    /// Keys the verified-Basic-credential cache, so that it holds no password-equivalent.
    pub basic_cache: Key,
    /// Signs OAuth2 access tokens.
    pub access_token: Key,
    /// Signs the short-lived cookie that carries OIDC state between redirects.
    pub oidc_state: Key,
}

impl Keys {
    /// Derives every purpose key from the master secret.
    pub fn derive(master: &SecretString) -> Keys {
        let master = Key(sha2_of(master.expose_secret().as_bytes()));
        let purpose = |label: &str| Key(master.sign(&[b"romm-server key v1", label.as_bytes()]));
        Keys {
            csrf: purpose("csrf"),
            basic_cache: purpose("basic-cache"),
            access_token: purpose("access-token"),
            oidc_state: purpose("oidc-state"),
        }
    }

    /// Uses the configured master secret, or else the one kept in the database, generating
    /// and storing it on first start.
    pub async fn load(
        configured: Option<&SecretString>,
        store: &dyn Store,
    ) -> anyhow::Result<Keys> {
        if let Some(secret) = configured {
            return Ok(Keys::derive(secret));
        }
        let mut candidate = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut candidate);
        let stored = store
            .setting_or_insert(SECRET_SETTING, &hex::encode(candidate))
            .await
            .context("cannot read or store the generated master secret")?;
        Ok(Keys::derive(&SecretString::from(stored)))
    }
}

fn sha2_of(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_get_different_keys() {
        let keys = Keys::derive(&SecretString::from("master"));
        assert_ne!(keys.csrf.as_bytes(), keys.basic_cache.as_bytes());
        assert_ne!(keys.csrf.as_bytes(), keys.access_token.as_bytes());
    }

    #[test]
    fn signing_separates_parts() {
        let key = Keys::derive(&SecretString::from("master")).csrf;
        assert_ne!(key.sign(&[b"ab", b"c"]), key.sign(&[b"a", b"bc"]));
        assert_eq!(key.sign(&[b"ab"]), key.sign(&[b"ab"]));
    }

    #[test]
    fn debug_output_hides_keys() {
        let keys = Keys::derive(&SecretString::from("master"));
        assert!(!format!("{keys:?}").contains(&hex::encode(keys.csrf.as_bytes())));
    }
}
