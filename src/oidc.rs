//! OpenID Connect sign-in: discovery, the authorization request, and the checks on the way
//! back.
//!
//! Discovery and the provider's keys are cached for an hour, and fetched again at once when
//! an ID token names a key the cache lacks, so a key rotation at the provider does not break
//! sign-in. The state, nonce and PKCE verifier of a sign-in travel in a short-lived cookie
//! signed with a key of their own, so no server-side state exists before the user is known.

use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJsonWebKeySet, CoreProviderMetadata,
};
use openidconnect::reqwest;
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tokio::sync::RwLock;

use crate::auth::keys::Key;
use crate::config::Config;

/// How long discovery and keys are trusted before they are fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(60 * 60);

/// How long a user may take at the provider before the sign-in must start over.
pub const FLOW_LIFETIME_SECS: i64 = 600;

/// Why a sign-in failed; each has a stable code for `/login?error=<code>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OidcFailure {
    Disabled,
    Misconfigured(String),
    ProviderUnavailable(String),
    /// The provider redirected back with `error=`.
    ProviderRefused(String),
    /// The state cookie is missing, forged, expired or does not match.
    InvalidState,
    /// The code exchange or the ID token failed a check.
    InvalidToken(String),
    EmailNotVerified,
    RegistrationDisabled,
    NoRoleGranted,
    UserDisabled,
}

impl OidcFailure {
    /// The code browsers are redirected with.
    pub fn code(&self) -> &'static str {
        match self {
            OidcFailure::Disabled => "oidc_disabled",
            OidcFailure::Misconfigured(_) => "oidc_misconfigured",
            OidcFailure::ProviderUnavailable(_) => "oidc_unavailable",
            OidcFailure::ProviderRefused(_) => "provider_refused",
            OidcFailure::InvalidState => "invalid_state",
            OidcFailure::InvalidToken(_) => "invalid_token",
            OidcFailure::EmailNotVerified => "email_not_verified",
            OidcFailure::RegistrationDisabled => "registration_disabled",
            OidcFailure::NoRoleGranted => "no_role",
            OidcFailure::UserDisabled => "user_disabled",
        }
    }

    /// A sentence for API callers; it never repeats a token or a secret.
    pub fn detail(&self) -> String {
        match self {
            OidcFailure::Disabled => "OIDC sign-in is not enabled".to_owned(),
            OidcFailure::Misconfigured(what) => format!("OIDC is misconfigured: {what}"),
            OidcFailure::ProviderUnavailable(_) => "The OIDC provider cannot be reached".to_owned(),
            OidcFailure::ProviderRefused(error) => format!("The OIDC provider refused: {error}"),
            OidcFailure::InvalidState => {
                "The sign-in expired or was not started here; start again".to_owned()
            }
            OidcFailure::InvalidToken(_) => "The provider's answer failed verification".to_owned(),
            OidcFailure::EmailNotVerified => {
                "An account uses this email, but the provider has not verified it".to_owned()
            }
            OidcFailure::RegistrationDisabled => "No account is linked to this identity".to_owned(),
            OidcFailure::NoRoleGranted => "The provider grants this user no RomM role".to_owned(),
            OidcFailure::UserDisabled => "Disabled user".to_owned(),
        }
    }
}

/// What a sign-in keeps between the redirect to the provider and the way back.
#[derive(Serialize, Deserialize)]
pub struct FlowState {
    state: String,
    nonce: String,
    pkce_verifier: String,
    issued_at: i64,
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

/// A verified sign-in: who the provider says the user is.
pub struct VerifiedLogin {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    /// Every claim of the verified ID token, for the username and roles claims.
    pub claims: serde_json::Value,
    /// The raw ID token, kept as the hint for RP-initiated logout.
    pub id_token: String,
}

impl fmt::Debug for VerifiedLogin {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("VerifiedLogin")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

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
    http: reqwest::Client,
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
    async fn metadata(
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

    fn client(&self, metadata: CoreProviderMetadata) -> Result<OidcClient, OidcFailure> {
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

    /// The provider URL to send the browser to, and the state to keep in its cookie.
    pub async fn authorization_request(
        &self,
        now: i64,
    ) -> Result<(String, FlowState), OidcFailure> {
        let (metadata, _) = self.metadata(false).await?;
        let client = self.client(metadata)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        let flow = FlowState {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            issued_at: now,
        };
        Ok((url.to_string(), flow))
    }

    /// Exchanges the code and verifies the ID token: signature, issuer, audience, expiry and
    /// nonce.
    pub async fn complete(
        &self,
        code: &str,
        flow: &FlowState,
    ) -> Result<VerifiedLogin, OidcFailure> {
        let (metadata, _) = self.metadata(false).await?;
        let client = self.client(metadata)?;
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| OidcFailure::Misconfigured(error.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()));
        let response = request
            .request_async(&self.http)
            .await
            .map_err(|error| OidcFailure::InvalidToken(format!("code exchange failed: {error}")))?;
        let id_token = openidconnect::TokenResponse::id_token(&response)
            .ok_or_else(|| OidcFailure::InvalidToken("no ID token in the answer".to_owned()))?
            .clone();

        let nonce = Nonce::new(flow.nonce.clone());
        let verified = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // The provider may have rotated its keys since we cached them.
                tracing::info!(
                    "ID token signed with an unknown key; fetching the provider's keys again"
                );
                let (metadata, _) = self.metadata(true).await?;
                let refreshed = self.client(metadata)?;
                let verifier = refreshed.id_token_verifier();
                let claims = id_token.claims(&verifier, &nonce);
                claims
                    .map_err(|error| OidcFailure::InvalidToken(error.to_string()))?
                    .clone()
            }
            Err(error) => return Err(OidcFailure::InvalidToken(error.to_string())),
        };

        let raw = id_token.to_string();
        let payload = raw.split('.').nth(1).unwrap_or_default();
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(serde_json::Value::Null);
        Ok(VerifiedLogin {
            issuer: verified.issuer().as_str().to_owned(),
            subject: verified.subject().as_str().to_owned(),
            email: verified.email().map(|email| email.as_str().to_owned()),
            email_verified: verified.email_verified().unwrap_or(false),
            claims,
            id_token: raw,
        })
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
