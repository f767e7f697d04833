//! Body extractors whose rejections use the API's error envelope.
//!
//! RomM's clients send the same endpoints JSON, urlencoded forms or multipart forms, so
//! [`JsonOrForm`] accepts all three by `Content-Type`. Every rejection is a clear 4xx with
//! `detail`: a syntax error is 400, a well-formed body with wrong fields is 422, an unknown
//! content type is 415 and an oversized body is 413. A JSON body is always one object.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON object body, or a JSON response; the body is parsed by [`parse_json`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if BodyFormat::of(request.headers()) != Some(BodyFormat::Json) {
            return Err(ApiError::UnsupportedMediaType(
                "Expected a body with Content-Type: application/json".to_owned(),
            ));
        }
        let bytes = read_bytes(request, state).await?;
        parse_json(&bytes).map(Json)
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

fn body_error(error: &BytesRejection) -> ApiError {
    if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadRequest("The request body could not be read".to_owned())
    }
}

/// The body formats [`JsonOrForm`] understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    UrlEncoded,
    Multipart,
}

impl BodyFormat {
    /// The format named by the request's `Content-Type`, if it is one of ours.
    ///
    /// JSON is `application/json` or any `application/...+json` type.
    pub fn of(headers: &HeaderMap) -> Option<BodyFormat> {
        let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Some(BodyFormat::Json),
            "application/x-www-form-urlencoded" => Some(BodyFormat::UrlEncoded),
            "multipart/form-data" => Some(BodyFormat::Multipart),
            json if json.starts_with("application/") && json.ends_with("+json") => {
                Some(BodyFormat::Json)
            }
            _ => None,
        }
    }
}

/// A body given as JSON, an urlencoded form or a multipart form.
#[derive(Debug)]
pub struct JsonOrForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonOrForm<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match BodyFormat::of(request.headers()) {
            Some(BodyFormat::Json) => {
                let bytes = read_bytes(request, state).await?;
                parse_json(&bytes).map(JsonOrForm)
            }
            Some(BodyFormat::UrlEncoded) => {
                let bytes = read_bytes(request, state).await?;
                parse_form(&bytes).map(JsonOrForm)
            }
            Some(BodyFormat::Multipart) => {
                let fields = read_multipart(request, state).await?;
                let encoded = serde_urlencoded::to_string(&fields)
                    .map_err(|_| ApiError::BadRequest("Unreadable form fields".to_owned()))?;
                parse_form(encoded.as_bytes()).map(JsonOrForm)
            }
            None => Err(ApiError::UnsupportedMediaType(
                "Expected application/json, application/x-www-form-urlencoded or \
                 multipart/form-data"
                    .to_owned(),
            )),
        }
    }
}

/// The whole body, with the size cap reported as 413.
pub async fn read_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|error| body_error(&error))
}

/// Parses a JSON object body; syntax errors and trailing data are 400, wrong fields 422.
///
/// serde would also read a struct from an array, taking its items as the fields in the order
/// they are declared. The API takes objects only, so an array is refused as a wrong value.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let malformed = || ApiError::BadRequest("Malformed JSON body".to_owned());
    if bytes.trim_ascii_start().starts_with(b"[") {
        return Err(ApiError::Validation {
            detail: "The body must be a JSON object, not an array".to_owned(),
            errors: Vec::new(),
        });
    }

    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        if error.inner().is_data() {
            ApiError::Validation {
                detail: error.to_string(),
                errors: Vec::new(),
            }
        } else {
            malformed()
        }
    })?;
    deserializer.end().map_err(|_| malformed())?;
    Ok(value)
}

/// Parses an urlencoded body; any field problem is 422.
pub fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_urlencoded::from_bytes(bytes).map_err(|error| ApiError::Validation {
        detail: format!("Invalid form: {error}"),
        errors: Vec::new(),
    })
}

/// The text fields of a multipart body, in order.
pub async fn read_multipart<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<Vec<(String, String)>, ApiError> {
    let invalid = || ApiError::BadRequest("Malformed multipart body".to_owned());
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|_| invalid())?;
    let mut fields = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|error| {
        if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest("Malformed multipart body".to_owned())
        }
    })? {
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        let value = field.text().await.map_err(|_| invalid())?;
        fields.push((name, value));
    }
    Ok(fields)
}

/// The query string, deserialised into a struct of text fields.
///
/// Numbers arrive as text and are parsed by the handler, so that a bad one gets a detail
/// naming its field, which a typed `axum::extract::Query` cannot give.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Query<T>, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(Query)
            .map_err(|error| ApiError::Validation {
                detail: format!("Invalid query string: {error}"),
                errors: Vec::new(),
            })
    }
}

/// `axum::extract::Path` with the API's rejections: a segment of the wrong type is 422.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> ApiError {
        ApiError::Validation {
            detail: rejection.body_text(),
            errors: Vec::new(),
        }
    }
}
