//! The library of SPEC §8: platforms, ROMs and their per-user properties, collections,
//! firmware and the cleanup task, with the role rules, the visibility rules and the
//! promise that a refused request writes nothing.

use axum::http::{Method, StatusCode};
use romm_server::auth::scopes::Role;
use serde_json::{json, Value};

use crate::harness::{RequestBuilder, TestApp, TestResponse, PASSWORD};

mod collections;
mod firmware;
mod platforms;
mod rom_props;
mod roms;
mod tasks;

/// The users most tests act as, one per role, named after it.
async fn users(app: &TestApp) {
    app.user("viewer", Role::Viewer).await;
    app.user("editor", Role::Editor).await;
    app.user("admin", Role::Admin).await;
}

/// Sends a request with a JSON body, signed in as `username` with Basic.
async fn send(
    app: &TestApp,
    method: Method,
    uri: &str,
    username: &str,
    body: Option<Value>,
) -> TestResponse {
    let request = RequestBuilder::new(method, uri).basic(username, PASSWORD);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    app.send(request.build()).await
}

async fn get(app: &TestApp, uri: &str, username: &str) -> TestResponse {
    send(app, Method::GET, uri, username, None).await
}

async fn post(app: &TestApp, uri: &str, username: &str, body: Value) -> TestResponse {
    send(app, Method::POST, uri, username, Some(body)).await
}

async fn put(app: &TestApp, uri: &str, username: &str, body: Value) -> TestResponse {
    send(app, Method::PUT, uri, username, Some(body)).await
}

async fn delete(app: &TestApp, uri: &str, username: &str) -> TestResponse {
    send(app, Method::DELETE, uri, username, None).await
}

/// Asserts the status, showing the body when it differs, and returns the response.
#[track_caller]
fn expect(response: TestResponse, status: StatusCode) -> TestResponse {
    assert_eq!(response.status, status, "{}", response.text());
    response
}

/// Asserts a 403 from the scope guard naming exactly `missing`.
#[track_caller]
fn assert_lacks(response: &TestResponse, missing: &str) {
    assert_eq!(
        response.status,
        StatusCode::FORBIDDEN,
        "{}",
        response.text()
    );
    assert_eq!(
        response.json(),
        json!({"detail": "Forbidden", "missing_scopes": [missing]})
    );
}

/// The fields a 422 names, in order.
fn invalid_fields(response: &TestResponse) -> Vec<String> {
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.text()
    );
    let errors = response.json()["errors"].clone();
    let errors = errors.as_array().cloned().unwrap_or_default();
    errors
        .iter()
        .map(|error| error["field"].as_str().unwrap().to_owned())
        .collect()
}

/// Creates a platform as the editor and returns its id.
async fn create_platform(app: &TestApp, slug: &str) -> i64 {
    let body = json!({"slug": slug, "name": format!("Platform {slug}")});
    let response = expect(
        post(app, "/api/platforms", "editor", body).await,
        StatusCode::CREATED,
    );
    response.json()["id"].as_i64().unwrap()
}

/// Creates a ROM on the platform as the editor and returns its id.
async fn create_rom(app: &TestApp, platform_id: i64, file_name: &str) -> i64 {
    let body = json!({
        "platform_id": platform_id,
        "name": file_name,
        "file_name": file_name,
        "file_size": 1024,
    });
    let response = expect(
        post(app, "/api/roms", "editor", body).await,
        StatusCode::CREATED,
    );
    response.json()["id"].as_i64().unwrap()
}

/// Creates a firmware file on the platform as the editor and returns its id.
async fn create_firmware(app: &TestApp, platform_id: i64, file_name: &str) -> i64 {
    let body = json!({
        "platform_id": platform_id,
        "file_name": file_name,
        "file_size": 512,
        "md5": "d41d8cd98f00b204e9800998ecf8427e",
    });
    let response = expect(
        post(app, "/api/firmware", "editor", body).await,
        StatusCode::CREATED,
    );
    response.json()["id"].as_i64().unwrap()
}

/// The ids of a list response, in order: a bare array or RomM's `items` page.
fn ids(response: &TestResponse) -> Vec<i64> {
    let body = response.json();
    let items = body.get("items").unwrap_or(&body);
    items
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}
