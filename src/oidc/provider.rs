//! The configured provider: its settings, and its discovery document and keys, cached.

use std::fmt;
use std::time::{Duration, Instant};

use openidconnect::core::{CoreClient, CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::reqwest;
use openidconnect::{ClientId, ClientSecret, IssuerUrl, RedirectUrl};
use secrecy::ExposeSecret;
use serde::Deserialize;
use tokio::sync::RwLock;

use super::OidcFailure;
use crate::config::Config;

/// How long discovery and keys are trusted before they are fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(60 * 60);

/// The discovery document with the provider's keys, as last fetched.
struct Discovery {
    metadata: CoreProviderMetadata,
    end_session_endpoint: Option<String>,
    fetched_at: Instant,
}

/// The part of the discovery document the core metadata type leaves out.
#[derive(Deserialize)]
struct LogoutMetadata {
    end_session_endpoint: Option<String>,
}

/// The configured provider, with its cached discovery.
pub struct OidcProvider {
    client_id: String,
    client_secret: Option<secrecy::SecretString>,
    redirect_uri: String,
    issuer: String,
    configured_end_session: Option<String>,
    pub(super) http: reqwest::Client,
    discovery: RwLock<Option<Discovery>>,
}

impl OidcProvider {
    /// The provider of the configuration, or `None` when OIDC is off.
    ///
    /// A configuration that cannot work (no client id, a bad URL, an unreadable CA file) is
    /// an error here, so start-up names the variable instead of the first sign-in failing.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<OidcProvider>> {
        if !config.oidc_enabled {
            return Ok(None);
        }
        if config.oidc_client_id.is_empty() {
            anyhow::bail!("OIDC_ENABLED is set but OIDC_CLIENT_ID is empty");
        }
        IssuerUrl::new(config.oidc_server_application_url.clone())
            .map_err(|error| anyhow::anyhow!("OIDC_SERVER_APPLICATION_URL: {error}"))?;
        RedirectUrl::new(config.oidc_redirect_uri.clone())
            .map_err(|error| anyhow::anyhow!("OIDC_REDIRECT_URI: {error}"))?;

        // Following redirects would let a provider point our requests anywhere.
        let mut http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10));
        if let Some(path) = &config.oidc_tls_cacertfile {
            let pem = std::fs::read(path).map_err(|error| {
                anyhow::anyhow!("OIDC_TLS_CACERTFILE {}: {error}", path.display())
            })?;
            for certificate in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|error| anyhow::anyhow!("OIDC_TLS_CACERTFILE: {error}"))?
            {
                http = http.add_root_certificate(certificate);
            }
        }
        let end_session =
            Some(config.oidc_end_session_endpoint.clone()).filter(|url| !url.is_empty());
        Ok(Some(OidcProvider {
            client_id: config.oidc_client_id.clone(),
            client_secret: config.oidc_client_secret.clone(),
            redirect_uri: config.oidc_redirect_uri.clone(),
            issuer: config
                .oidc_server_application_url
                .trim_end_matches('/')
                .to_owned(),
            configured_end_session: end_session,
            http: http.build()?,
            discovery: RwLock::new(None),
        }))
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Fetches the discovery document and keys, or returns the cached ones.
    pub(super) async fn metadata(
        &self,
        force: bool,
    ) -> Result<(CoreProviderMetadata, Option<String>), OidcFailure> {
        if !force {
            let cached = self.discovery.read().await;
            if let Some(discovery) = cached
                .as_ref()
                .filter(|d| d.fetched_at.elapsed() < DISCOVERY_TTL)
            {
                return Ok((
                    discovery.metadata.clone(),
                    discovery.end_session_endpoint.clone(),
                ));
            }
        }

        let unavailable =
            |error: &dyn fmt::Display| OidcFailure::ProviderUnavailable(error.to_string());
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|error| unavailable(&error))?;
        if !response.status().is_success() {
            return Err(unavailable(&format!(
                "discovery answered {}",
                response.status()
            )));
        }
        let body = response
            .bytes()
            .await
            .map_err(|error| unavailable(&error))?;
        let metadata: CoreProviderMetadata =
            serde_json::from_slice(&body).map_err(|error| unavailable(&error))?;
        if metadata.issuer().as_str().trim_end_matches('/') != self.issuer {
            return Err(OidcFailure::Misconfigured(
                "the provider names another issuer than OIDC_SERVER_APPLICATION_URL".to_owned(),
            ));
        }
        let logout: LogoutMetadata =
            serde_json::from_slice(&body).map_err(|error| unavailable(&error))?;
        let jwks = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http)
            .await
            .map_err(|error| unavailable(&error))?;
        let metadata = metadata.set_jwks(jwks);

        let discovery = Discovery {
            metadata: metadata.clone(),
            end_session_endpoint: logout.end_session_endpoint.clone(),
            fetched_at: Instant::now(),
        };
        *self.discovery.write().await = Some(discovery);
        tracing::info!("OIDC discovery and keys fetched");
        Ok((metadata, logout.end_session_endpoint))
    }

    pub(super) fn client(&self, metadata: CoreProviderMetadata) -> Result<OidcClient, OidcFailure> {
        let secret = self
            .client_secret
            .as_ref()
            .map(|secret| ClientSecret::new(secret.expose_secret().to_owned()));
        let redirect = RedirectUrl::new(self.redirect_uri.clone())
            .map_err(|error| OidcFailure::Misconfigured(format!("OIDC_REDIRECT_URI: {error}")))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect))
    }

    /// The provider's end-session endpoint: configured, else from discovery.
    pub async fn end_session_endpoint(&self) -> Option<String> {
        if let Some(configured) = &self.configured_end_session {
            return Some(configured.clone());
        }
        self.metadata(false)
            .await
            .ok()
            .and_then(|(_, endpoint)| endpoint)
    }

    /// Whether discovery works right now, fetching it afresh; the error otherwise.
    pub async fn check_discovery(&self) -> Result<(), String> {
        self.metadata(true)
            .await
            .map(|_| ())
            .map_err(|failure| match failure {
                OidcFailure::ProviderUnavailable(reason) | OidcFailure::Misconfigured(reason) => {
                    reason
                }
                other => other.detail(),
            })
    }
}

type OidcClient = openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;
