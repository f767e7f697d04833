//! OAuth2 access tokens: HS256 JWTs signed with a key used for nothing else.
//!
//! The algorithm is pinned, so a token naming `none` or another algorithm fails before its
//! signature is looked at. Besides the signature, a token must carry our issuer and
//! audience, `type = "access"`, an unexpired `exp`, and the credential version its user had
//! when it was issued; a password change or disable bumps that version and every older
//! token dies on its next use.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::keys::Key;
use super::scopes::ScopeSet;

/// The `iss` of every access token.
pub const ISSUER: &str = "romm:oauth";

/// The `aud` of every access token.
pub const AUDIENCE: &str = "romm";

const ACCESS_TYPE: &str = "access";

/// The checks every access token passes besides its type, built once: building them
/// allocates a set per claim list, which every bearer request would otherwise pay for.
static VALIDATION: LazyLock<Validation> = LazyLock::new(|| {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    // Lifetimes are short and set by us; a grace period would only stretch them.
    validation.leeway = 0;
    validation
});

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id, never the username (which can change).
    pub sub: String,
    #[serde(rename = "type")]
    pub token_type: String,
    /// Space-separated scope names, as OAuth2 writes them.
    pub scopes: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// The user's credential version at issue.
    pub ver: i64,
}

/// Why an access token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    Expired,
    Invalid,
}

/// Signs and checks access tokens.
pub struct AccessTokens<'a> {
    pub key: &'a Key,
}

impl AccessTokens<'_> {
    /// Issues a token for the user with the given scopes, valid until `expires_at`.
    pub fn issue(
        &self,
        user_id: i64,
        credential_version: i64,
        scopes: ScopeSet,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> String {
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: user_id.to_string(),
            token_type: ACCESS_TYPE.to_owned(),
            scopes: scopes.to_string(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
            ver: credential_version,
        };
        let key = EncodingKey::from_secret(self.key.as_bytes());
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
            .expect("HS256 signing with a byte key cannot fail")
    }

    /// Checks the signature, algorithm, issuer, audience, expiry and type of a token.
    pub fn verify(&self, token: &str) -> Result<Claims, Rejection> {
        let key = DecodingKey::from_secret(self.key.as_bytes());
        let claims = match jsonwebtoken::decode::<Claims>(token, &key, &VALIDATION) {
            Ok(data) => data.claims,
            Err(error) if matches!(error.kind(), ErrorKind::ExpiredSignature) => {
                return Err(Rejection::Expired);
            }
            Err(_) => return Err(Rejection::Invalid),
        };
        if claims.token_type != ACCESS_TYPE {
            return Err(Rejection::Invalid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use chrono::Duration;
    use secrecy::SecretString;

    use super::*;
    use crate::auth::keys::Keys;
    use crate::auth::scopes::Role;

    fn keys(master: &str) -> Keys {
        Keys::derive(&SecretString::from(master))
    }

    fn token(keys: &Keys, lifetime: Duration) -> String {
        let now = Utc::now();
        let tokens = AccessTokens {
            key: &keys.access_token,
        };
        tokens.issue(7, 3, Role::Viewer.scopes(), now, now + lifetime)
    }

    #[test]
    fn issued_tokens_verify_with_their_claims() {
        let keys = keys("a");
        let claims = AccessTokens {
            key: &keys.access_token,
        }
        .verify(&token(&keys, Duration::minutes(5)))
        .unwrap();
        assert_eq!(claims.sub, "7");
        assert_eq!(claims.ver, 3);
        assert_eq!(claims.scopes, Role::Viewer.scopes().to_string());
        assert_eq!(
            (claims.iss.as_str(), claims.aud.as_str()),
            (ISSUER, AUDIENCE)
        );
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_refused() {
        let keys = keys("a");
        let tokens = AccessTokens {
            key: &keys.access_token,
        };
        assert_eq!(
            tokens
                .verify(&token(&keys, Duration::seconds(-1)))
                .unwrap_err(),
            Rejection::Expired
        );

        let foreign = token(&self::keys("b"), Duration::minutes(5));
        assert_eq!(tokens.verify(&foreign).unwrap_err(), Rejection::Invalid);

        // Change a signature character whose bits all count (the last one has padding bits),
        // and always to a different one.
        let mut tampered = token(&keys, Duration::minutes(5));
        let at = tampered.len() - 10;
        let replacement = if &tampered[at..=at] == "A" { "B" } else { "A" };
        tampered.replace_range(at..=at, replacement);
        assert_eq!(tokens.verify(&tampered).unwrap_err(), Rejection::Invalid);
    }

    #[test]
    fn unsigned_tokens_are_refused() {
        let keys = keys("a");
        let tokens = AccessTokens {
            key: &keys.access_token,
        };
        let signed = token(&keys, Duration::minutes(5));
        let payload = signed.split('.').nth(1).unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            tokens.verify(&format!("{header}.{payload}.")).unwrap_err(),
            Rejection::Invalid
        );
    }
}
