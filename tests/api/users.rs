//! `/api/users` (SPEC §7): one submodule per part of the contract, and the helpers they share.
//!
//! Every refused request is followed by a look into the store, because a refusal must leave
//! the account exactly as it was.

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use romm_server::auth::scopes::Role;
use serde_json::{json, Value};

use crate::harness::{Browser, RequestBuilder, TestApp, TestResponse, PASSWORD};

mod creating;
mod deleting;
mod field_rules;
mod invites;
mod password_resets;
mod reading;
mod revocation;
mod updating;

/// The fields of the `UserSchema` in SPEC §7, and no others.
const USER_SCHEMA_FIELDS: [&str; 12] = [
    "avatar_path",
    "created_at",
    "current_device_id",
    "email",
    "enabled",
    "id",
    "last_active",
    "last_login",
    "oauth_scopes",
    "role",
    "updated_at",
    "username",
];

/// A viewer's scopes in the canonical order of SPEC §1.
const VIEWER_SCOPES: [&str; 15] = [
    "me.read",
    "me.write",
    "roms.read",
    "roms.user.read",
    "roms.user.write",
    "platforms.read",
    "assets.read",
    "assets.write",
    "devices.read",
    "devices.write",
    "firmware.read",
    "collections.read",
    "collections.write",
    "playlists.read",
    "playlists.write",
];

/// All 22 scopes, an admin's, in the canonical order of SPEC §1.
const ADMIN_SCOPES: [&str; 22] = [
    "me.read",
    "me.write",
    "roms.read",
    "roms.write",
    "roms.user.read",
    "roms.user.write",
    "platforms.read",
    "platforms.write",
    "assets.read",
    "assets.write",
    "devices.read",
    "devices.write",
    "firmware.read",
    "firmware.write",
    "collections.read",
    "collections.write",
    "playlists.read",
    "playlists.write",
    "users.read",
    "users.write",
    "tasks.run",
    "logs.read",
];

/// A password that follows the rules and differs from the harness's.
const NEW_PASSWORD: &str = "a brand new passphrase";

/// Everything stored about a user that a refused request must leave as it was.
#[derive(Debug, PartialEq)]
struct StoredAccount {
    username: String,
    email: Option<String>,
    password_hash: String,
    role: Role,
    enabled: bool,
    credential_version: i64,
    updated_at: DateTime<Utc>,
    sessions: usize,
}

async fn stored_account(app: &TestApp, id: i64) -> StoredAccount {
    let user = app
        .store()
        .find_user(id)
        .await
        .unwrap()
        .expect("the user exists");
    let sessions = app.store().list_sessions(id, Utc::now()).await.unwrap();
    StoredAccount {
        username: user.username,
        email: user.email,
        password_hash: user.password_hash,
        role: user.role,
        enabled: user.enabled,
        credential_version: user.credential_version,
        updated_at: user.updated_at,
        sessions: sessions.len(),
    }
}

async fn user_count(app: &TestApp) -> i64 {
    app.store().count_users().await.unwrap()
}

fn user_path(id: i64) -> String {
    format!("/api/users/{id}")
}

/// `GET {uri}`, signed with HTTP Basic as `caller`.
async fn get_as(app: &TestApp, caller: &str, uri: &str) -> TestResponse {
    let request = RequestBuilder::get(uri).basic(caller, PASSWORD).build();
    app.send(request).await
}

/// `POST /api/users` with a JSON body, signed with HTTP Basic as `caller`.
async fn create_as(app: &TestApp, caller: &str, body: &Value) -> TestResponse {
    let request = RequestBuilder::new(Method::POST, "/api/users")
        .basic(caller, PASSWORD)
        .json(body)
        .build();
    app.send(request).await
}

/// `PUT /api/users/{id}` with a JSON body, signed with HTTP Basic as `caller`.
async fn update_as(app: &TestApp, caller: &str, id: i64, body: &Value) -> TestResponse {
    let request = RequestBuilder::new(Method::PUT, &user_path(id))
        .basic(caller, PASSWORD)
        .json(body)
        .build();
    app.send(request).await
}

/// `PUT /api/users/{id}` with a JSON body from a signed-in browser.
async fn update_from(app: &TestApp, browser: &Browser, id: i64, body: &Value) -> TestResponse {
    let request = RequestBuilder::new(Method::PUT, &user_path(id))
        .browser(browser)
        .json(body)
        .build();
    app.send(request).await
}

/// `DELETE /api/users/{id}`, signed with HTTP Basic as `caller`.
async fn delete_as(app: &TestApp, caller: &str, id: i64) -> TestResponse {
    let request = RequestBuilder::new(Method::DELETE, &user_path(id))
        .basic(caller, PASSWORD)
        .build();
    app.send(request).await
}

/// The status of `GET /api/users/me` with the browser's session cookie.
async fn session_status(app: &TestApp, browser: &Browser) -> StatusCode {
    let request = RequestBuilder::get("/api/users/me")
        .cookies_only(browser)
        .build();
    app.send(request).await.status
}

/// The status of `GET {uri}` with HTTP Basic.
async fn basic_status(app: &TestApp, uri: &str, username: &str, password: &str) -> StatusCode {
    let request = RequestBuilder::get(uri).basic(username, password).build();
    app.send(request).await.status
}

/// Checks a 403 from a scope check that names exactly the one missing scope.
fn assert_forbidden_for_lack_of(response: &TestResponse, scope: &str) {
    assert_eq!(
        response.status,
        StatusCode::FORBIDDEN,
        "{}",
        response.text()
    );
    assert_eq!(response.detail(), "Forbidden");
    assert_eq!(response.json()["missing_scopes"], json!([scope]));
}

/// Checks the status and that `detail` names what was wrong, so a user can act on it.
fn assert_detail_mentions(response: &TestResponse, status: StatusCode, word: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    let detail = response.detail().to_lowercase();
    assert!(
        detail.contains(word),
        "detail {detail:?} should mention {word}"
    );
}

/// Checks that a body is a `UserSchema`: exactly its fields, the right types, and no hash.
fn assert_user_schema(response: &TestResponse) {
    let body = response.json();
    let mut fields: Vec<&str> = body
        .as_object()
        .expect("a user object")
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, USER_SCHEMA_FIELDS);
    assert!(body["id"].is_i64());
    assert!(body["enabled"].is_boolean());
    assert!(body["avatar_path"].is_string());
    for timestamp in ["created_at", "updated_at"] {
        let text = body[timestamp].as_str().expect("a timestamp string");
        assert!(
            DateTime::parse_from_rfc3339(text).is_ok(),
            "{timestamp}: {text}"
        );
    }
    let text = response.text();
    assert!(
        !text.contains("$argon2") && !text.contains("password"),
        "{text}"
    );
}

/// Multipart bodies, which RomM's web UI and bots send to the account endpoints.
trait MultipartForm {
    fn multipart(self, fields: &[(&str, &str)]) -> RequestBuilder;
}

impl MultipartForm for RequestBuilder {
    fn multipart(self, fields: &[(&str, &str)]) -> RequestBuilder {
        let boundary = "romm-test-boundary";
        let mut body = String::new();
        for (name, value) in fields {
            body += &format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n\
                 {value}\r\n"
            );
        }
        body += &format!("--{boundary}--\r\n");
        self.raw_body(&format!("multipart/form-data; boundary={boundary}"), body)
    }
}
