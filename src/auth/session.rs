//! Browser session secrets, their cookies, and CSRF tokens bound to them.
//!
//! The session cookie holds 32 random bytes; the database holds only their SHA-256, so a
//! leaked database cannot be replayed as cookies. The CSRF token is a random nonce with an
//! HMAC over the nonce and the hash of the session cookie it was issued with: a token taken
//! from another browser, or minted before login, fails once the session changes.

use axum::http::HeaderValue;
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::credentials::{CSRF_COOKIE, SESSION_COOKIE};
use super::keys::Key;

/// The header a browser echoes the CSRF cookie in.
pub const CSRF_HEADER: &str = "x-csrftoken";

/// A new session secret: the raw cookie value and the hash to store.
pub struct SessionSecret {
    pub cookie_value: SecretString,
    pub token_hash: Vec<u8>,
}

impl SessionSecret {
    pub fn generate() -> SessionSecret {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let cookie_value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let token_hash = hash_session_cookie(&cookie_value);
        SessionSecret {
            cookie_value: SecretString::from(cookie_value),
            token_hash,
        }
    }
}

/// The SHA-256 of a session cookie value, as the database keeps it.
pub fn hash_session_cookie(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// How cookies are marked, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct CookiePolicy {
    pub secure: bool,
    /// `Lax` when OIDC is on, because the provider's redirect back is a cross-site navigation
    /// that must carry the cookie; `Strict` otherwise.
    pub lax: bool,
}

impl CookiePolicy {
    fn attributes(self) -> String {
        let same_site = if self.lax { "Lax" } else { "Strict" };
        let secure = if self.secure { "; Secure" } else { "" };
        format!("Path=/; SameSite={same_site}{secure}")
    }

    /// The `Set-Cookie` value that stores a session for `max_age_secs`.
    pub fn session_cookie(self, value: &SecretString, max_age_secs: i64) -> HeaderValue {
        let cookie = format!(
            "{SESSION_COOKIE}={}; HttpOnly; Max-Age={max_age_secs}; {}",
            value.expose_secret(),
            self.attributes()
        );
        HeaderValue::from_str(&cookie).expect("session cookies are ASCII")
    }

    /// The `Set-Cookie` value that stores a CSRF token; scripts must read it, so no HttpOnly.
    pub fn csrf_cookie(self, token: &str) -> HeaderValue {
        let cookie = format!("{CSRF_COOKIE}={token}; {}", self.attributes());
        HeaderValue::from_str(&cookie).expect("CSRF tokens are ASCII")
    }

    /// The `Set-Cookie` value that deletes the named cookie.
    pub fn expired_cookie(self, name: &str) -> HeaderValue {
        let cookie = format!("{name}=; Max-Age=0; {}", self.attributes());
        HeaderValue::from_str(&cookie).expect("cookie names are ASCII")
    }
}

/// Issues and checks CSRF tokens bound to a session cookie (or to its absence).
pub struct CsrfTokens<'a> {
    pub key: &'a Key,
}

impl CsrfTokens<'_> {
    /// A fresh token for the browser holding `session_cookie`, or for one holding none.
    pub fn issue(&self, session_cookie: Option<&str>) -> String {
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mac = self.mac(session_cookie, &nonce);
        format!("{}{}", hex::encode(nonce), hex::encode(mac))
    }

    /// Whether `token` was issued by this server for the browser holding `session_cookie`.
    pub fn is_valid(&self, token: &str, session_cookie: Option<&str>) -> bool {
        let Ok(bytes) = hex::decode(token) else {
            return false;
        };
        if bytes.len() != 48 {
            return false;
        }
        let (nonce, mac) = bytes.split_at(16);
        bool::from(self.mac(session_cookie, nonce).ct_eq(mac))
    }

    /// Whether the header echoes the cookie and the cookie is a valid token for this session.
    pub fn verify_double_submit(
        &self,
        header: Option<&str>,
        cookie: Option<&str>,
        session_cookie: Option<&str>,
    ) -> bool {
        let (Some(header), Some(cookie)) = (header, cookie) else {
            return false;
        };
        bool::from(header.as_bytes().ct_eq(cookie.as_bytes()))
            && self.is_valid(cookie, session_cookie)
    }

    fn mac(&self, session_cookie: Option<&str>, nonce: &[u8]) -> [u8; 32] {
        let binding = session_cookie.map(hash_session_cookie).unwrap_or_default();
        self.key.sign(&[&binding, nonce])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::Keys;

    fn keys() -> Keys {
        Keys::derive(&SecretString::from("test master"))
    }

    #[test]
    fn session_secrets_are_random_and_stored_hashed() {
        let first = SessionSecret::generate();
        let second = SessionSecret::generate();
        assert_ne!(
            first.cookie_value.expose_secret(),
            second.cookie_value.expose_secret()
        );
        assert_eq!(
            first.token_hash,
            hash_session_cookie(first.cookie_value.expose_secret())
        );
        assert_eq!(first.cookie_value.expose_secret().len(), 43);
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session_cookie() {
        let keys = keys();
        let csrf = CsrfTokens { key: &keys.csrf };
        let token = csrf.issue(Some("session-a"));
        assert!(csrf.is_valid(&token, Some("session-a")));
        assert!(!csrf.is_valid(&token, Some("session-b")));
        assert!(!csrf.is_valid(&token, None));

        let anonymous = csrf.issue(None);
        assert!(csrf.is_valid(&anonymous, None));
        assert!(!csrf.is_valid(&anonymous, Some("session-a")));
    }

    #[test]
    fn double_submit_needs_the_header_to_equal_the_cookie() {
        let keys = keys();
        let csrf = CsrfTokens { key: &keys.csrf };
        let token = csrf.issue(Some("s"));
        assert!(csrf.verify_double_submit(Some(&token), Some(&token), Some("s")));
        assert!(!csrf.verify_double_submit(None, Some(&token), Some("s")));
        assert!(!csrf.verify_double_submit(Some("forged"), Some(&token), Some("s")));
        let other = csrf.issue(Some("s"));
        assert!(!csrf.verify_double_submit(Some(&other), Some(&token), Some("s")));
        assert!(!csrf.verify_double_submit(Some("zz"), Some("zz"), Some("s")));
    }

    #[test]
    fn cookies_carry_the_contract_attributes() {
        let policy = CookiePolicy {
            secure: true,
            lax: false,
        };
        let cookie = policy.session_cookie(&SecretString::from("abc"), 60);
        assert_eq!(
            cookie.to_str().unwrap(),
            "romm_session=abc; HttpOnly; Max-Age=60; Path=/; SameSite=Strict; Secure"
        );
        let csrf = CookiePolicy {
            secure: false,
            lax: true,
        }
        .csrf_cookie("t");
        assert_eq!(
            csrf.to_str().unwrap(),
            "romm_csrftoken=t; Path=/; SameSite=Lax"
        );
    }
}
