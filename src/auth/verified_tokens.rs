//! Access tokens this process has already verified, so that a client's next request with the
//! same token skips decoding it and checking its signature.
//!
//! Checking the same bytes with the same key always gives the same answer, so remembering the
//! answer changes only its cost. Expiry is still checked at every use, and what revokes a
//! token early, its user's credential version, is read from the store at every use too.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use super::access_token::{AccessGrant, AccessTokens, Rejection};

/// Tokens kept at most; a full cache first drops the expired ones, then everything.
const MAX_ENTRIES: usize = 4096;

/// Verified tokens by their signature.
#[derive(Default)]
pub struct VerifiedTokens {
    entries: Mutex<HashMap<Box<str>, Verified>>,
}

/// One verified token, whole, and what it grants.
struct Verified {
    token: Box<str>,
    grant: AccessGrant,
}

impl VerifiedTokens {
    /// What `token` grants at `now`, verifying it with `tokens` unless this exact token was
    /// verified before.
    pub fn grant(
        &self,
        tokens: &AccessTokens<'_>,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<AccessGrant, Rejection> {
        let signature = token
            .rsplit_once('.')
            .map_or("", |(_, signature)| signature);
        let grant = match self.remembered(signature, token) {
            Some(grant) => grant,
            None => {
                let grant = tokens.grant(token)?;
                self.remember(signature, token, grant, now);
                grant
            }
        };

        if grant.expires_at < now.timestamp() {
            return Err(Rejection::Expired);
        }
        Ok(grant)
    }

    fn remembered(&self, signature: &str, token: &str) -> Option<AccessGrant> {
        let entries = self.entries.lock().expect("verified token lock");
        let verified = entries.get(signature)?;
        // Only the very token that was verified counts, not one that merely ends the same way.
        let same = verified.token.as_bytes().ct_eq(token.as_bytes());
        bool::from(same).then_some(verified.grant)
    }

    fn remember(&self, signature: &str, token: &str, grant: AccessGrant, now: DateTime<Utc>) {
        let mut entries = self.entries.lock().expect("verified token lock");
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, verified| verified.grant.expires_at >= now.timestamp());
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        let verified = Verified {
            token: token.into(),
            grant,
        };
        entries.insert(signature.into(), verified);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().expect("verified token lock").len()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use secrecy::SecretString;

    use super::*;
    use crate::auth::keys::Keys;
    use crate::auth::scopes::Role;

    fn keys() -> Keys {
        Keys::derive(&SecretString::from("a"))
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let keys = keys();
        let tokens = AccessTokens {
            key: &keys.access_token,
        };
        let now = Utc::now();
        let token = tokens.issue(7, 3, Role::Viewer.scopes(), now, now + Duration::minutes(5));
        let verified = VerifiedTokens::default();

        let grant = verified.grant(&tokens, &token, now).unwrap();
        assert_eq!((grant.user_id, grant.credential_version), (7, 3));
        assert_eq!(grant.scopes, Role::Viewer.scopes());
        assert_eq!(verified.len(), 1);
        assert_eq!(verified.grant(&tokens, &token, now), Ok(grant));

        let later = now + Duration::minutes(6);
        assert_eq!(
            verified.grant(&tokens, &token, later),
            Err(Rejection::Expired)
        );
    }

    #[test]
    fn only_the_exact_token_that_was_verified_is_remembered() {
        let keys = keys();
        let tokens = AccessTokens {
            key: &keys.access_token,
        };
        let now = Utc::now();
        let token = tokens.issue(7, 3, Role::Admin.scopes(), now, now + Duration::minutes(5));
        let verified = VerifiedTokens::default();
        verified.grant(&tokens, &token, now).unwrap();

        // The same signature after other claims: the signature no longer matches them.
        let (_, signature) = token.rsplit_once('.').unwrap();
        let other = tokens.issue(8, 0, Role::Admin.scopes(), now, now + Duration::minutes(5));
        let (other_signed, _) = other.rsplit_once('.').unwrap();
        let spliced = format!("{other_signed}.{signature}");
        assert_eq!(
            verified.grant(&tokens, &spliced, now),
            Err(Rejection::Invalid)
        );
        assert_eq!(verified.len(), 1, "a refused token is not remembered");
    }
}
