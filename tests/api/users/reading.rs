//! Reading users: the directory, one user by id, and the caller.

use axum::http::StatusCode;
use romm_server::auth::scopes::Role;
use serde_json::{json, Value};

use super::{
    assert_forbidden_for_lack_of, assert_user_schema, get_as, user_path, ADMIN_SCOPES,
    VIEWER_SCOPES,
};
use crate::harness::{RequestBuilder, TestApp};
use crate::on_both_backends;

on_both_backends!(
    listing_users_needs_users_read,
    reading_a_user_needs_users_read_and_an_unknown_id_is_404,
    me_shows_the_caller_with_the_scopes_of_their_role,
);

async fn listing_users_needs_users_read(app: TestApp) {
    app.user("root", Role::Admin).await;
    app.user("vera", Role::Viewer).await;

    let by_admin = get_as(&app, "root", "/api/users").await;
    assert_eq!(by_admin.status, StatusCode::OK);
    let listed = by_admin.json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["root", "vera"]);
    assert!(!by_admin.text().contains("$argon2"));

    let with_slash = get_as(&app, "root", "/api/users/").await;
    assert_eq!(with_slash.status, StatusCode::OK);

    let by_viewer = get_as(&app, "vera", "/api/users").await;
    assert_forbidden_for_lack_of(&by_viewer, "users.read");

    let anonymous = app.send(RequestBuilder::get("/api/users").build()).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.detail(), "Not authenticated");
}

async fn reading_a_user_needs_users_read_and_an_unknown_id_is_404(app: TestApp) {
    app.user("root", Role::Admin).await;
    let vera = app.user("vera", Role::Viewer).await;

    let by_admin = get_as(&app, "root", &user_path(vera.id)).await;
    assert_eq!(by_admin.status, StatusCode::OK);
    assert_user_schema(&by_admin);
    assert_eq!(by_admin.json()["username"], "vera");

    let unknown = get_as(&app, "root", &user_path(vera.id + 100)).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.detail(), "User not found");

    let own_by_viewer = get_as(&app, "vera", &user_path(vera.id)).await;
    assert_forbidden_for_lack_of(&own_by_viewer, "users.read");
}

async fn me_shows_the_caller_with_the_scopes_of_their_role(app: TestApp) {
    let vera = app.user("vera", Role::Viewer).await;
    app.user("root", Role::Admin).await;
    let browser = app.login("vera").await;

    let viewer = app
        .send(
            RequestBuilder::get("/api/users/me")
                .cookies_only(&browser)
                .build(),
        )
        .await;
    assert_eq!(viewer.status, StatusCode::OK);
    assert_user_schema(&viewer);
    let body = viewer.json();
    assert_eq!(body["id"], vera.id);
    assert_eq!(body["role"], "viewer");
    assert_eq!(body["oauth_scopes"], json!(VIEWER_SCOPES));
    assert_eq!(body["current_device_id"], Value::Null);

    let admin = get_as(&app, "root", "/api/users/me/").await;
    assert_eq!(admin.status, StatusCode::OK);
    assert_eq!(admin.json()["oauth_scopes"], json!(ADMIN_SCOPES));

    let anonymous = app.send(RequestBuilder::get("/api/users/me").build()).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}
