//! The state every handler shares: configuration, store, keys and the auth machinery.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::basic::BasicCache;
use crate::auth::keys::Keys;
use crate::auth::password::PasswordHasher;
use crate::auth::session::{CookiePolicy, CsrfTokens};
use crate::auth::throttle::{FailureThrottle, SlidingWindow};
use crate::auth::verified_tokens::VerifiedTokens;
use crate::config::Config;
use crate::error::ApiError;
use crate::oidc::OidcProvider;
use crate::store::{Store, StoreResult};

/// Request-rate limits per client address on the public pairing endpoints.
pub struct RequestLimits {
    /// `POST /api/client-tokens/exchange`: 5 a minute.
    pub pairing_exchange: SlidingWindow<IpAddr>,
    /// `POST /api/auth/device/init`: 10 a minute.
    pub device_init: SlidingWindow<IpAddr>,
    /// `POST /api/auth/device/token`: 60 a minute.
    pub device_poll: SlidingWindow<IpAddr>,
}

impl Default for RequestLimits {
    fn default() -> RequestLimits {
        let minute = Duration::from_secs(60);
        RequestLimits {
            pairing_exchange: SlidingWindow::new(5, minute),
            device_init: SlidingWindow::new(10, minute),
            device_poll: SlidingWindow::new(60, minute),
        }
    }
}

impl RequestLimits {
    /// Counts one request from `address` against `limit`, or answers 429 with the wait.
    pub fn admit(
        limit: &SlidingWindow<IpAddr>,
        address: IpAddr,
        detail: &str,
    ) -> Result<(), ApiError> {
        limit.try_record(address, Instant::now()).map_err(|wait| {
            tracing::warn!(client.address = %address, "request rate limit reached");
            ApiError::TooManyRequests {
                detail: detail.to_owned(),
                retry_after_secs: wait.as_secs().max(1),
            }
        })
    }
}

/// Cheap to clone: every field is shared.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub keys: Arc<Keys>,
    pub passwords: PasswordHasher,
    pub throttle: Arc<FailureThrottle>,
    pub basic_cache: Arc<BasicCache>,
    /// Access tokens already verified, so that a repeated token is not decoded again.
    pub verified_tokens: Arc<VerifiedTokens>,
    pub limits: Arc<RequestLimits>,
    /// The OpenID Connect provider, when OIDC is enabled.
    pub oidc: Option<Arc<OidcProvider>>,
    /// Set once a user is known to exist; users are never all removed through the API, so
    /// the setup check stops querying the database after that.
    setup_done: Arc<AtomicBool>,
}

impl AppState {
    /// Builds the state over an open store, loading or generating the master secret.
    pub async fn new(config: Config, store: Arc<dyn Store>) -> anyhow::Result<AppState> {
        let keys = Keys::load(config.auth_secret_key.as_ref(), store.as_ref()).await?;
        let oidc = OidcProvider::from_config(&config)?.map(Arc::new);
        Ok(AppState {
            config: Arc::new(config),
            store,
            keys: Arc::new(keys),
            passwords: PasswordHasher::new(),
            throttle: Arc::default(),
            basic_cache: Arc::default(),
            verified_tokens: Arc::default(),
            limits: Arc::default(),
            oidc,
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
