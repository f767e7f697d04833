//! The OpenAPI document (`/openapi.json`, `/api/openapi.json`) and the interactive docs at
//! `/api/docs`, served from files built into the binary so they work offline.

use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes,
    SecurityScheme,
};
use utoipa::openapi::OpenApi;
use utoipa::Modify;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::credentials::SESSION_COOKIE;
use crate::auth::scopes::Scope;
use crate::state::AppState;

/// The document's fixed parts; the paths come from the routers.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "romm-server", description = "The RomM API with its authentication system."),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Sign-in, sessions and tokens"),
        (name = "users", description = "Accounts and roles"),
        (name = "client-tokens", description = "Long-lived API tokens and pairing codes"),
        (name = "device-auth", description = "Signing a device in by approval"),
        (name = "devices", description = "Your devices"),
        (name = "platforms", description = "Game systems of the library"),
        (name = "roms", description = "Game files and your own data about them"),
        (name = "collections", description = "Named lists of ROMs"),
        (name = "firmware", description = "BIOS and other system files"),
        (name = "tasks", description = "Maintenance run by hand"),
        (name = "oidc", description = "Sign-in through an OpenID Connect provider"),
        (name = "system", description = "Server status"),
    )
)]
pub struct ApiDoc;

/// Adds the four ways to authenticate, with every scope described on the OAuth2 scheme.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scopes = Scopes::from_iter(Scope::ALL.map(|scope| (scope.name(), scope.description())));
        let password = Password::new("/api/token", scopes);
        components.add_security_scheme(
            "OAuth2PasswordBearer",
            SecurityScheme::OAuth2(OAuth2::new([Flow::Password(password)])),
        );
        components.add_security_scheme(
            "HTTPBasic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "SessionCookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))),
        );
        let client_token = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("rmm_ followed by 64 hex digits")
            .description(Some("A client API token from /api/client-tokens"))
            .build();
        components.add_security_scheme("ClientToken", SecurityScheme::Http(client_token));
    }
}

/// Routes that serve the document and the docs UI.
pub fn router(openapi: OpenApi) -> Router<AppState> {
    let document = openapi.clone();
    Router::new()
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi))
        .route(
            "/openapi.json",
            get(move || async move { axum::Json(document) }),
        )
}
