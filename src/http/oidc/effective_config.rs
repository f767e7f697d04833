//! `GET /api/config/oidc`: the effective OIDC configuration, for administrators.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{require, Authorized};
use crate::error::Result;
use crate::http::extract::Json;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(effective_config))
}

/// The effective OIDC configuration, with the secret redacted.
#[derive(Serialize, ToSchema)]
pub struct OidcConfigSchema {
    enabled: bool,
    provider: String,
    client_id: String,
    /// `"********"` when a secret is set; never the secret.
    client_secret: Option<&'static str>,
    redirect_uri: String,
    server_application_url: String,
    claim_roles: String,
    role_viewer: String,
    role_editor: String,
    role_admin: String,
    username_attribute: String,
    allow_registration: bool,
    autologin: bool,
    rp_initiated_logout: bool,
    end_session_endpoint: Option<String>,
    tls_cacertfile: Option<String>,
    /// Whether the discovery document and keys can be fetched right now.
    discovery_ok: bool,
    /// Why discovery fails, when it does.
    discovery_error: Option<String>,
}

/// Shows the effective OIDC configuration and whether discovery currently succeeds.
#[utoipa::path(
    get,
    path = "/api/config/oidc",
    tag = "oidc",
    responses(
        (status = 200, description = "The configuration", body = OidcConfigSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing users.read"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["users.read"]),
        ("HTTPBasic" = ["users.read"]),
        ("SessionCookie" = ["users.read"]),
        ("ClientToken" = ["users.read"]),
    )
)]
async fn effective_config(
    _caller: Authorized<require::UsersRead>,
    State(state): State<AppState>,
) -> Result<Json<OidcConfigSchema>> {
    let config = &state.config;
    let (discovery_ok, discovery_error, end_session_endpoint) = match &state.oidc {
        Some(provider) => {
            let check = provider.check_discovery().await;
            (
                check.is_ok(),
                check.err(),
                provider.end_session_endpoint().await,
            )
        }
        None => (false, Some("OIDC is not enabled".to_owned()), None),
    };
    Ok(Json(OidcConfigSchema {
        enabled: config.oidc_enabled,
        provider: config.oidc_provider.clone(),
        client_id: config.oidc_client_id.clone(),
        client_secret: config.oidc_client_secret.as_ref().map(|_| "********"),
        redirect_uri: config.oidc_redirect_uri.clone(),
        server_application_url: config.oidc_server_application_url.clone(),
        claim_roles: config.oidc_claim_roles.clone(),
        role_viewer: config.oidc_role_viewer.clone(),
        role_editor: config.oidc_role_editor.clone(),
        role_admin: config.oidc_role_admin.clone(),
        username_attribute: config.oidc_username_attribute.clone(),
        allow_registration: config.oidc_allow_registration,
        autologin: config.oidc_autologin,
        rp_initiated_logout: config.oidc_rp_initiated_logout,
        end_session_endpoint,
        tls_cacertfile: config
            .oidc_tls_cacertfile
            .as_ref()
            .map(|path| path.display().to_string()),
        discovery_ok,
        discovery_error,
    }))
}
