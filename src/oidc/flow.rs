//! The state a sign-in keeps in a signed cookie between the redirect out and the way back.

use std::fmt;

use base64::Engine;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::OidcFailure;
use crate::auth::keys::Key;

/// How long a user may take at the provider before the sign-in must start over.
pub const FLOW_LIFETIME_SECS: i64 = 600;

/// What a sign-in keeps between the redirect to the provider and the way back.
#[derive(Serialize, Deserialize)]
pub struct FlowState {
    pub(super) state: String,
    pub(super) nonce: String,
    pub(super) pkce_verifier: String,
    pub(super) issued_at: i64,
}

impl fmt::Debug for FlowState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("FlowState")
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

impl FlowState {
    /// The cookie value: the state as base64url JSON, a dot, and its HMAC.
    pub fn seal(&self, key: &Key) -> String {
        let payload = serde_json::to_vec(self).expect("flow state serialises");
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload);
        let mac = hex::encode(key.sign(&[b"oidc-flow", payload.as_bytes()]));
        format!("{payload}.{mac}")
    }

    /// Reads a cookie value back, refusing a forged or expired one.
    pub fn open(value: &str, key: &Key, now: i64) -> Result<FlowState, OidcFailure> {
        let (payload, mac) = value.split_once('.').ok_or(OidcFailure::InvalidState)?;
        let expected = hex::encode(key.sign(&[b"oidc-flow", payload.as_bytes()]));
        if !bool::from(expected.as_bytes().ct_eq(mac.as_bytes())) {
            return Err(OidcFailure::InvalidState);
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| OidcFailure::InvalidState)?;
        let flow: FlowState =
            serde_json::from_slice(&bytes).map_err(|_| OidcFailure::InvalidState)?;
        if now - flow.issued_at > FLOW_LIFETIME_SECS || flow.issued_at > now + 60 {
            return Err(OidcFailure::InvalidState);
        }
        Ok(flow)
    }

    /// Whether the `state` the provider sent back is the one this flow sent.
    pub fn matches(&self, state: &str) -> bool {
        bool::from(self.state.as_bytes().ct_eq(state.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::auth::keys::Keys;

    fn flow(issued_at: i64) -> FlowState {
        FlowState {
            state: "state".to_owned(),
            nonce: "nonce".to_owned(),
            pkce_verifier: "verifier".to_owned(),
            issued_at,
        }
    }

    #[test]
    fn sealed_flow_state_opens_only_unchanged_and_in_time() {
        let keys = Keys::derive(&SecretString::from("k"));
        let sealed = flow(1000).seal(&keys.oidc_state);

        let opened = FlowState::open(&sealed, &keys.oidc_state, 1000 + 30).unwrap();
        assert!(opened.matches("state"));
        assert!(!opened.matches("other"));

        assert_eq!(
            FlowState::open(&sealed, &keys.oidc_state, 1000 + FLOW_LIFETIME_SECS + 1).unwrap_err(),
            OidcFailure::InvalidState
        );
        let other_key = Keys::derive(&SecretString::from("other")).oidc_state;
        assert!(FlowState::open(&sealed, &other_key, 1000).is_err());
        let forged = format!("{sealed}x");
        assert!(FlowState::open(&forged, &keys.oidc_state, 1000).is_err());
        assert!(FlowState::open("garbage", &keys.oidc_state, 1000).is_err());
    }
}
