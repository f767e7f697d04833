//! The provider-facing steps of a sign-in: the authorization request, then the code exchange
//! and the checks on the ID token it returns.

use std::fmt;

use base64::Engine;
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, CsrfToken, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, Scope, SignatureVerificationError,
};

use super::{FlowState, OidcFailure, OidcProvider};

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

impl OidcProvider {
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
}
