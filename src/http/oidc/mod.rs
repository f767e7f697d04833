//! OpenID Connect sign-in, from the redirect to the provider to the session it ends in.
//!
//! `GET /api/login/openid` sends the browser to the provider and `GET /api/oauth/openid`
//! takes it back. `GET /api/config/oidc` (`users.read`) shows administrators the effective
//! configuration.
//!
//! Users are found by their (issuer, subject) link; an existing account is linked once by an
//! email the provider has verified, never matched by email again. Every failure is a 4xx:
//! JSON for API callers, a redirect to `/login?error=<code>` for browsers.

mod account;
mod effective_config;
mod sign_in;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(sign_in::router())
        .merge(effective_config::router())
}
