//! OAuth2 access tokens: HS256 JWTs signed with a key used for nothing else.
//!
//! The algorithm is pinned, so a token naming `none` or another algorithm is refused. Besides
//! the signature, a token must carry our issuer and audience, `type = "access"`, an unexpired
//! `exp`, and the credential version its user had when it was issued; a password change or
//! disable bumps that version and every older token dies on its next use.
//!
//! Tokens are issued with jsonwebtoken but checked here. Every bearer request checks one, and
//! the check needs less than the library does: the one header form we issue, and a single
//! parse of the claims.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::Mac;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use super::keys::Key;
use super::scopes::ScopeSet;

/// The `iss` of every access token.
pub const ISSUER: &str = "romm:oauth";

/// The `aud` of every access token.
pub const AUDIENCE: &str = "romm";

const ACCESS_TYPE: &str = "access";

/// The length of an HMAC-SHA256 signature.
const SIGNATURE_LEN: usize = 32;

/// Anything longer is not one of ours; it is refused before any decoding.
const MAX_TOKEN_LEN: usize = 4096;

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

/// The header of an access token; only `alg` and `typ` may be present.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenHeader<'a> {
    #[serde(borrow)]
    alg: &'a str,
    #[serde(borrow, default)]
    typ: Option<&'a str>,
}

/// What a valid access token grants, read from its claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessGrant {
    pub user_id: i64,
    /// The scopes granted at issue; the user's current role may allow fewer.
    pub scopes: ScopeSet,
    /// The user's credential version at issue; the token dies once the user's moves on.
    pub credential_version: i64,
    /// Unix seconds; the token is refused after this second.
    pub expires_at: i64,
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
    ///
    /// The signature is checked, in constant time, before anything inside the token is
    /// parsed. A token that expires this very second is still valid, as with jsonwebtoken.
    pub fn verify(&self, token: &str) -> Result<Claims, Rejection> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Rejection::Invalid);
        }
        let (signed, signature) = token.rsplit_once('.').ok_or(Rejection::Invalid)?;
        let (header, payload) = signed.split_once('.').ok_or(Rejection::Invalid)?;

        let mut signature_bytes = [0u8; SIGNATURE_LEN];
        match URL_SAFE_NO_PAD.decode_slice(signature, &mut signature_bytes) {
            Ok(SIGNATURE_LEN) => {}
            _ => return Err(Rejection::Invalid),
        }
        let mut mac = self.key.hmac();
        mac.update(signed.as_bytes());
        mac.verify_slice(&signature_bytes)
            .map_err(|_| Rejection::Invalid)?;

        let header = decode_segment(header)?;
        let header: TokenHeader<'_> =
            serde_json::from_slice(&header).map_err(|_| Rejection::Invalid)?;
        if header.alg != "HS256" || header.typ.is_some_and(|typ| typ != "JWT") {
            return Err(Rejection::Invalid);
        }

        let claims: Claims =
            serde_json::from_slice(&decode_segment(payload)?).map_err(|_| Rejection::Invalid)?;
        if claims.iss != ISSUER || claims.aud != AUDIENCE || claims.token_type != ACCESS_TYPE {
            return Err(Rejection::Invalid);
        }
        if claims.exp < Utc::now().timestamp() {
            return Err(Rejection::Expired);
        }
        Ok(claims)
    }

    /// Verifies a token and reads what it grants.
    pub fn grant(&self, token: &str) -> Result<AccessGrant, Rejection> {
        let claims = self.verify(token)?;
        let (Ok(user_id), Ok(scopes)) = (
            claims.sub.parse::<i64>(),
            ScopeSet::parse(claims.scopes.split_whitespace()),
        ) else {
            tracing::warn!("access token signed by us with unreadable claims");
            return Err(Rejection::Invalid);
        };
        Ok(AccessGrant {
            user_id,
            scopes,
            credential_version: claims.ver,
            expires_at: claims.exp,
        })
    }
}

fn decode_segment(segment: &str) -> Result<Vec<u8>, Rejection> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| Rejection::Invalid)
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

    /// A token signed with our key over any header and claims, as only a key holder could.
    fn signed_with(keys: &Keys, algorithm: Algorithm, claims: &serde_json::Value) -> String {
        let key = EncodingKey::from_secret(keys.access_token.as_bytes());
        jsonwebtoken::encode(&Header::new(algorithm), claims, &key).unwrap()
    }

    fn valid_claims() -> serde_json::Value {
        serde_json::json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": "7", "type": "access", "scopes": "me.read",
            "iat": 0, "exp": Utc::now().timestamp() + 60, "jti": "j", "ver": 0,
        })
    }

    #[test]
    fn tokens_signed_by_us_are_still_refused_unless_every_claim_is_ours() {
        let keys = keys("a");
        let tokens = AccessTokens {
            key: &keys.access_token,
        };
        assert!(tokens
            .verify(&signed_with(&keys, Algorithm::HS256, &valid_claims()))
            .is_ok());

        let mut refused = vec![signed_with(&keys, Algorithm::HS512, &valid_claims())];
        for (claim, value) in [
            ("iss", serde_json::json!("someone else")),
            ("aud", serde_json::json!(["romm"])),
            ("type", serde_json::json!("refresh")),
            ("sub", serde_json::json!(7)),
            ("exp", serde_json::json!("later")),
        ] {
            let mut claims = valid_claims();
            claims[claim] = value;
            refused.push(signed_with(&keys, Algorithm::HS256, &claims));
        }
        let mut missing_version = valid_claims();
        missing_version.as_object_mut().unwrap().remove("ver");
        refused.push(signed_with(&keys, Algorithm::HS256, &missing_version));

        for token in refused {
            assert_eq!(
                tokens.verify(&token).unwrap_err(),
                Rejection::Invalid,
                "{token}"
            );
        }
    }

    #[test]
    fn malformed_tokens_are_refused_without_panicking() {
        let keys = keys("a");
        let tokens = AccessTokens {
            key: &keys.access_token,
        };
        let valid = token(&keys, Duration::minutes(5));
        let (signed, _) = valid.rsplit_once('.').unwrap();
        let long_signature = format!("{signed}.{}", "A".repeat(64));
        let oversized = format!("{valid}{}", "A".repeat(MAX_TOKEN_LEN));
        for token in [
            "",
            ".",
            "..",
            "a.b.c",
            "é.é.é",
            signed,
            &format!("{signed}."),
            &long_signature,
            &oversized,
            &valid.replacen('.', "..", 1),
        ] {
            assert_eq!(
                tokens.verify(token).unwrap_err(),
                Rejection::Invalid,
                "{token}"
            );
        }
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
