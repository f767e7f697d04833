//! The OpenAPI document at `/openapi.json` and `/api/openapi.json`, and the docs at `/api/docs`.
//!
//! The document is completed with the responses every route shares, and the interactive docs
//! are served from files built into the binary so they work offline.

use axum::routing::get;
use axum::Router;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes,
    SecurityScheme,
};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};
use utoipa::Modify;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::credentials::SESSION_COOKIE;
use crate::auth::scopes::Scope;
use crate::error::{ErrorBody, FieldError};
use crate::state::AppState;

/// The document's fixed parts; the paths come from the routers.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "romm-server", description = "The RomM API with its authentication system."),
    modifiers(&SecuritySchemes),
    components(schemas(ErrorBody, FieldError)),
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

/// Documents what every route shares and no handler's attribute repeats: the refusals of
/// the common extractors, and the `{"detail": ...}` body of every 4xx.
///
/// It runs on the finished document, because the paths exist only once the routers are merged.
/// A response that a handler documents itself keeps its description; only its body is added.
pub fn document_shared_responses(openapi: &mut OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        for operation in operations_mut(item) {
            add_extractor_responses(operation);
            add_error_bodies(operation);
        }
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    let PathItem {
        get,
        put,
        post,
        delete,
        options,
        head,
        patch,
        trace,
        ..
    } = item;
    [get, put, post, delete, options, head, patch, trace]
        .into_iter()
        .flatten()
}

/// The refusals of `extract::Json`, `JsonOrForm` and `extract::Path`, which any handler that
/// takes a body or an integer path segment can give before its own code runs.
fn add_extractor_responses(operation: &mut Operation) {
    let body_types: Vec<&str> = operation
        .request_body
        .iter()
        .flat_map(|body| body.content.keys().map(String::as_str))
        .collect();
    let takes_json = body_types.contains(&"application/json");
    let has_integer_segment = operation.parameters.iter().flatten().any(|parameter| {
        parameter.parameter_in == ParameterIn::Path
            && parameter.schema.as_ref().is_some_and(is_integer)
    });

    let mut shared = Vec::new();
    if !body_types.is_empty() {
        shared.push(("413", "Request body too large"));
    }
    if takes_json {
        shared.push(("400", "Malformed JSON body"));
        shared.push(("415", "Unsupported Content-Type"));
        shared.push(("422", "Invalid field"));
    }
    if has_integer_segment {
        shared.push(("422", "A path segment is not an integer"));
    }
    for (status, description) in shared {
        let responses = &mut operation.responses.responses;
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(Response::new(description)));
    }
}

/// Gives every 4xx response that has no body of its own the error envelope.
fn add_error_bodies(operation: &mut Operation) {
    let refusals = operation
        .responses
        .responses
        .iter_mut()
        .filter(|(status, _)| status.starts_with('4'));
    for (_, response) in refusals {
        let RefOr::T(response) = response else {
            continue;
        };
        if response.content.is_empty() {
            let body = Content::new(Some(Ref::from_schema_name("ErrorBody")));
            response.content.insert("application/json".to_owned(), body);
        }
    }
}

fn is_integer(schema: &RefOr<Schema>) -> bool {
    matches!(
        schema,
        RefOr::T(Schema::Object(object)) if object.schema_type == SchemaType::Type(Type::Integer)
    )
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
