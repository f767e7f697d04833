//! The one error type of the API and its mapping to statuses and JSON bodies.
//!
//! Every error body is `{"detail": "..."}` because RomM clients read `detail`; the scope
//! failure adds `missing_scopes` and validation failures add `errors`. A 5xx says only
//! "Internal Server Error"; its cause is logged inside the request's span.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::scopes::ScopeSet;
use crate::store::StoreError;

/// The result type of handlers and the services they call.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Which `WWW-Authenticate` challenge a 401 carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// No credential, or a session cookie: a plain bearer challenge, so that browsers
    /// never open a password dialog for script calls.
    Bearer,
    /// A bearer token was presented and refused.
    InvalidBearer,
    /// HTTP Basic was presented and refused.
    Basic,
}

impl Challenge {
    fn header_value(self) -> &'static str {
        match self {
            Challenge::Bearer => r#"Bearer realm="romm""#,
            Challenge::InvalidBearer => r#"Bearer realm="romm", error="invalid_token""#,
            Challenge::Basic => r#"Basic realm="romm""#,
        }
    }
}

/// One invalid field of a request body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's name in the request.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No usable credential (absent, malformed, unknown, expired or revoked).
    #[error("unauthorized: {detail}")]
    Unauthorized {
        detail: String,
        challenge: Challenge,
    },

    /// A valid identity that lacks some scopes of the route.
    #[error("missing scopes {missing}")]
    MissingScopes {
        required: ScopeSet,
        missing: ScopeSet,
        bearer: bool,
    },

    /// A refusal that is not about scopes, such as a CSRF failure or a rule on users.
    #[error("forbidden: {0}")]
    Forbidden(String),

    #[error("not found: {0}")]
    NotFound(String),

    #[error("conflict: {0}")]
    Conflict(String),

    #[error("bad request: {0}")]
    BadRequest(String),

    /// A well-formed request whose content breaks a rule, field by field.
    #[error("validation failed: {detail}")]
    Validation {
        detail: String,
        errors: Vec<FieldError>,
    },

    #[error("too many requests")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },

    #[error("payload too large")]
    PayloadTooLarge,

    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),

    /// A token-endpoint failure: RFC 6749's `error` code beside RomM's `detail`.
    #[error("oauth {code}: {description}")]
    OAuth {
        status: StatusCode,
        code: &'static str,
        description: String,
    },

    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// The usual 401 for a route that needs a credential and got none that works.
    pub fn not_authenticated(challenge: Challenge) -> ApiError {
        ApiError::Unauthorized {
            detail: "Not authenticated".to_owned(),
            challenge,
        }
    }

    /// A 422 about a single field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError::Validation {
            detail: format!("{field}: {message}"),
            errors: vec![FieldError {
                field: field.to_owned(),
                message,
            }],
        }
    }

    /// A 422 listing every invalid field; the detail joins them for clients that read only it.
    pub fn validation(errors: Vec<FieldError>) -> ApiError {
        let detail = errors
            .iter()
            .map(|error| format!("{}: {}", error.field, error.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::Validation { detail, errors }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::MissingScopes { .. } | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::OAuth { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A human-readable reason; RomM clients match on some of these strings.
    pub detail: String,
    /// The scopes the credential lacks, on a 403 from a scope check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_scopes: Option<Vec<&'static str>>,
    /// Per-field problems, on a 422.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// The RFC 6749 error code, on token-endpoint failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// The same text as `detail`, under RFC 6749's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

impl ErrorBody {
    fn detail(detail: impl Into<String>) -> ErrorBody {
        ErrorBody {
            detail: detail.into(),
            missing_scopes: None,
            errors: None,
            error: None,
            error_description: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut challenge = None;
        let mut retry_after = None;

        let body = match self {
            ApiError::Unauthorized {
                detail,
                challenge: kind,
            } => {
                challenge = Some(HeaderValue::from_static(kind.header_value()));
                ErrorBody::detail(detail)
            }
            ApiError::MissingScopes {
                required,
                missing,
                bearer,
            } => {
                if bearer {
                    let value = format!(r#"Bearer error="insufficient_scope", scope="{required}""#);
                    challenge = HeaderValue::from_str(&value).ok();
                }
                ErrorBody {
                    missing_scopes: Some(missing.names()),
                    ..ErrorBody::detail("Forbidden")
                }
            }
            ApiError::Validation { detail, errors } => ErrorBody {
                errors: Some(errors),
                ..ErrorBody::detail(detail)
            },
            ApiError::TooManyRequests {
                detail,
                retry_after_secs,
            } => {
                retry_after = Some(HeaderValue::from(retry_after_secs.max(1)));
                ErrorBody::detail(detail)
            }
            ApiError::Forbidden(detail)
            | ApiError::NotFound(detail)
            | ApiError::Conflict(detail)
            | ApiError::BadRequest(detail)
            | ApiError::UnsupportedMediaType(detail) => ErrorBody::detail(detail),
            ApiError::PayloadTooLarge => ErrorBody::detail("Request body too large"),
            ApiError::OAuth {
                status,
                code,
                description,
            } => {
                if status == StatusCode::UNAUTHORIZED {
                    challenge = Some(HeaderValue::from_static(Challenge::Bearer.header_value()));
                }
                ErrorBody {
                    error: Some(code),
                    error_description: Some(description.clone()),
                    ..ErrorBody::detail(description)
                }
            }
            ApiError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed");
                ErrorBody::detail("Internal Server Error")
            }
        };

        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(value) = challenge {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let Some(value) = retry_after {
            headers.insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::NotFound => ApiError::NotFound("Not found".to_owned()),
            StoreError::Conflict(detail) => ApiError::Conflict(detail),
            StoreError::LimitReached(detail) => ApiError::BadRequest(detail),
            StoreError::Database(error) => ApiError::Internal(error.into()),
            StoreError::Other(error) => ApiError::Internal(error),
        }
    }
}
