//! Password hashing and verification on a bounded pool of blocking threads.
//!
//! Argon2id with 19 MiB, two passes and one lane costs tens of milliseconds of CPU and its
//! memory, so it never runs on the async runtime. At most one hash per core runs at a time,
//! and only a bounded number of requests may wait for one: past that the caller is told to
//! come back, so a flood of wrong passwords cannot exhaust memory or starve other requests.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use crate::error::ApiError;

/// How many password checks may wait for a free core, per core; more are refused with 429.
pub const WAITING_PER_CORE: usize = 32;

/// The `detail` of a password check refused because the queue is full.
pub const QUEUE_FULL_DETAIL: &str = "Too many password checks in progress; try again shortly";

/// The outcome of checking a password against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    /// The password is right; `upgraded_hash` replaces a legacy (bcrypt) hash when present.
    Valid {
        upgraded_hash: Option<String>,
    },
    Invalid,
}

/// The hashing pool, shared by login, Basic, the password grant and user management.
#[derive(Clone)]
pub struct PasswordHasher {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    /// Verified instead of a real hash when the username is unknown, so that both cost the
    /// same time.
    dummy_hash: Arc<str>,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("the argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let hash = argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|error| anyhow::anyhow!("argon2 hashing failed: {error}"))?;
    Ok(hash.to_string())
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|prefix| hash.starts_with(prefix))
}

fn verify_blocking(password: &str, stored_hash: &str) -> anyhow::Result<Verification> {
    if is_bcrypt(stored_hash) {
        if !bcrypt::verify(password, stored_hash).unwrap_or(false) {
            return Ok(Verification::Invalid);
        }
        return Ok(Verification::Valid {
            upgraded_hash: Some(hash_blocking(password)?),
        });
    }

    // A hash that does not parse verifies nothing; it is never an error for the caller.
    let Ok(parsed) = PasswordHash::new(stored_hash) else {
        return Ok(Verification::Invalid);
    };
    match argon2().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(Verification::Valid {
            upgraded_hash: None,
        }),
        Err(_) => Ok(Verification::Invalid),
    }
}

impl PasswordHasher {
    /// A pool that runs one hash per available core.
    pub fn new() -> PasswordHasher {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        PasswordHasher {
            running: Arc::new(Semaphore::new(cores)),
            admitted: Arc::new(Semaphore::new(cores * (WAITING_PER_CORE + 1))),
            dummy_hash: hash_blocking("romm-server dummy password")
                .expect("hashing works")
                .into(),
        }
    }

    /// Hashes a new password with argon2id.
    pub async fn hash(&self, password: &SecretString) -> Result<String, ApiError> {
        let password = password.clone();
        self.run(move || hash_blocking(password.expose_secret()))
            .await
    }

    /// Checks a password against a stored hash, or against the dummy hash when the user is
    /// unknown (`None`), which is always invalid but costs the same.
    pub async fn verify(
        &self,
        password: &SecretString,
        stored_hash: Option<&str>,
    ) -> Result<Verification, ApiError> {
        let password = password.clone();
        let known = stored_hash.is_some();
        let hash: String = stored_hash.unwrap_or(&self.dummy_hash).to_owned();
        let verification = self
            .run(move || verify_blocking(password.expose_secret(), &hash))
            .await?;
        Ok(if known {
            verification
        } else {
            Verification::Invalid
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _admitted = self.admit()?;
        let permit: OwnedSemaphorePermit = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| anyhow::anyhow!("the password pool is closed"))?;
        let span = tracing::Span::current();
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(work)
        })
        .in_current_span()
        .await
        .map_err(|error| anyhow::anyhow!("password hashing task failed: {error}"))??;
        Ok(result)
    }

    fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.admitted.clone().try_acquire_owned().map_err(|_| {
            tracing::warn!("password checks are queueing up; refusing more until some finish");
            ApiError::TooManyRequests {
                detail: QUEUE_FULL_DETAIL.to_owned(),
                retry_after_secs: 1,
            }
        })
    }
}

impl Default for PasswordHasher {
    fn default() -> PasswordHasher {
        PasswordHasher::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> SecretString {
        SecretString::from(value)
    }

    #[tokio::test]
    async fn argon2_hashes_verify_only_their_password() {
        let hasher = PasswordHasher::new();
        let hash = hasher.hash(&secret("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));

        let right = hasher
            .verify(&secret("correct horse"), Some(&hash))
            .await
            .unwrap();
        assert_eq!(
            right,
            Verification::Valid {
                upgraded_hash: None
            }
        );
        let wrong = hasher
            .verify(&secret("wrong horse"), Some(&hash))
            .await
            .unwrap();
        assert_eq!(wrong, Verification::Invalid);
    }

    #[tokio::test]
    async fn bcrypt_hashes_from_romm_verify_and_are_upgraded() {
        let hasher = PasswordHasher::new();
        let legacy = bcrypt::hash("old password", 4).unwrap();

        let Verification::Valid {
            upgraded_hash: Some(upgraded),
        } = hasher
            .verify(&secret("old password"), Some(&legacy))
            .await
            .unwrap()
        else {
            panic!("a right bcrypt password must verify and yield an argon2 hash");
        };
        assert!(upgraded.starts_with("$argon2id$"));
        let again = hasher
            .verify(&secret("old password"), Some(&upgraded))
            .await
            .unwrap();
        assert_eq!(
            again,
            Verification::Valid {
                upgraded_hash: None
            }
        );

        let wrong = hasher
            .verify(&secret("other"), Some(&legacy))
            .await
            .unwrap();
        assert_eq!(wrong, Verification::Invalid);
    }

    #[tokio::test]
    async fn unknown_users_and_broken_hashes_never_verify() {
        let hasher = PasswordHasher::new();
        let dummy = hasher.dummy_hash.to_string();
        let unknown = hasher
            .verify(&secret("romm-server dummy password"), None)
            .await
            .unwrap();
        assert_eq!(unknown, Verification::Invalid);
        assert!(dummy.starts_with("$argon2id$"));

        let broken = hasher
            .verify(&secret("anything"), Some("not a hash"))
            .await
            .unwrap();
        assert_eq!(broken, Verification::Invalid);
    }
}
