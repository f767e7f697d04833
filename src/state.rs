//! The state every handler shares: configuration, store, keys and the auth machinery.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::auth::basic::BasicCache;
use crate::auth::keys::Keys;
use crate::auth::password::PasswordHasher;
use crate::auth::session::{CookiePolicy, CsrfTokens};
use crate::auth::throttle::FailureThrottle;
use crate::config::Config;
use crate::store::{Store, StoreResult};

/// Cheap to clone: every field is shared.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub keys: Arc<Keys>,
    pub passwords: PasswordHasher,
    pub throttle: Arc<FailureThrottle>,
    pub basic_cache: Arc<BasicCache>,
    /// Set once a user is known to exist; users are never all removed through the API, so
    /// the setup check stops querying the database after that.
    setup_done: Arc<AtomicBool>,
}

impl AppState {
    /// Builds the state over an open store, loading or generating the master secret.
    pub async fn new(config: Config, store: Arc<dyn Store>) -> anyhow::Result<AppState> {
        let keys = Keys::load(config.auth_secret_key.as_ref(), store.as_ref()).await?;
        Ok(AppState {
            config: Arc::new(config),
            store,
            keys: Arc::new(keys),
            passwords: PasswordHasher::new(),
            throttle: Arc::default(),
            basic_cache: Arc::default(),
            setup_done: Arc::default(),
        })
    }

    pub fn cookie_policy(&self) -> CookiePolicy {
        CookiePolicy {
            secure: self.config.secure_cookies(),
            lax: self.config.oidc_enabled,
        }
    }

    pub fn csrf(&self) -> CsrfTokens<'_> {
        CsrfTokens {
            key: &self.keys.csrf,
        }
    }

    /// Whether first-run setup is still open because no user exists.
    pub async fn needs_setup(&self) -> StoreResult<bool> {
        if self.setup_done.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let needs_setup = self.store.count_users().await? == 0;
        if !needs_setup {
            self.setup_done.store(true, Ordering::Relaxed);
        }
        Ok(needs_setup)
    }
}
