//! `GET /api/heartbeat`: the public probe clients use to find the server's version and
//! login options. It answers 200 whatever credential the request carries.

use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::Result;
use crate::http::extract::Json;
use crate::state::AppState;

/// The RomM API level this server implements; clients offer device pairing from 5.0.0.
pub const ROMM_API_VERSION: &str = "5.0.0";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(heartbeat))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct SystemInfo {
    /// The RomM API level implemented.
    version: &'static str,
    /// This program's own version.
    server_version: &'static str,
    /// Whether no user exists yet, so the web UI should offer first-run setup.
    show_setup_wizard: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct OidcInfo {
    enabled: bool,
    provider: String,
    autologin: bool,
    rp_initiated_logout: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct FrontendInfo {
    disable_userpass_login: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct Heartbeat {
    system: SystemInfo,
    oidc: OidcInfo,
    frontend: FrontendInfo,
}

/// Reports the API level, this server's version and the login options.
#[utoipa::path(
    get,
    path = "/api/heartbeat",
    tag = "system",
    responses((status = 200, description = "The server is up", body = Heartbeat))
)]
async fn heartbeat(state: axum::extract::State<AppState>) -> Result<Json<Heartbeat>> {
    let config = &state.config;
    let heartbeat = Heartbeat {
        system: SystemInfo {
            version: ROMM_API_VERSION,
            server_version: env!("CARGO_PKG_VERSION"),
            show_setup_wizard: state.needs_setup().await?,
        },
        oidc: OidcInfo {
            enabled: config.oidc_enabled,
            provider: config.oidc_provider.clone(),
            autologin: config.oidc_autologin,
            rp_initiated_logout: config.oidc_rp_initiated_logout,
        },
        frontend: FrontendInfo {
            disable_userpass_login: config.disable_userpass_login,
        },
    };
    Ok(Json(heartbeat))
}
