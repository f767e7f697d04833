//! Changing accounts: the body formats, who may change what, and refusals that store nothing.

use axum::http::{Method, StatusCode};
use romm_server::auth::scopes::Role;
use serde_json::{json, Value};

use super::{
    assert_detail_mentions, assert_forbidden_for_lack_of, assert_user_schema, basic_status,
    session_status, stored_account, update_as, update_from, user_count, user_path, MultipartForm,
    NEW_PASSWORD,
};
use crate::harness::{RequestBuilder, TestApp, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    own_email_changes_with_an_urlencoded_form,
    own_username_changes_with_a_multipart_form_and_is_lower_cased,
    own_account_changes_accept_json,
    admin_changes_role_and_enabled_with_form_booleans,
    own_password_change_needs_the_right_current_password,
    admin_sets_another_users_password_without_a_current_password,
    viewer_cannot_change_someone_else,
    viewer_cannot_change_their_own_role_or_enabled_flag,
    changing_an_unknown_user_is_404,
    refused_updates_store_nothing,
);

async fn own_email_changes_with_an_urlencoded_form(app: TestApp) {
    let vera = app.user("vera", Role::Viewer).await;
    let browser = app.login("vera").await;

    let request = RequestBuilder::new(Method::PUT, &user_path(vera.id))
        .browser(&browser)
        .form(&[("email", "vera@example.com")])
        .build();
    let response = app.send(request).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_user_schema(&response);
    assert_eq!(response.json()["email"], "vera@example.com");
    let stored = stored_account(&app, vera.id).await;
    assert_eq!(stored.email.as_deref(), Some("vera@example.com"));

    // An empty email field removes the address, as the web UI's cleared input sends it.
    let request = RequestBuilder::new(Method::PUT, &user_path(vera.id))
        .browser(&browser)
        .form(&[("email", "")])
        .build();
    let response = app.send(request).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["email"], Value::Null);
    assert_eq!(stored_account(&app, vera.id).await.email, None);
}

async fn own_username_changes_with_a_multipart_form_and_is_lower_cased(app: TestApp) {
    let vera = app.user("vera", Role::Viewer).await;
    let browser = app.login("vera").await;

    let request = RequestBuilder::new(Method::PUT, &user_path(vera.id))
        .browser(&browser)
        .multipart(&[("username", "Veronica"), ("email", "veronica@example.com")])
        .build();
    let response = app.send(request).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["username"], "veronica");
    assert_eq!(response.json()["email"], "veronica@example.com");
    assert_eq!(stored_account(&app, vera.id).await.username, "veronica");
    let me = "/api/users/me";
    assert_eq!(
        basic_status(&app, me, "VERONICA", PASSWORD).await,
        StatusCode::OK
    );
    assert_eq!(
        basic_status(&app, me, "vera", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn own_account_changes_accept_json(app: TestApp) {
    let vera = app.user("vera", Role::Viewer).await;

    let body = json!({"username": "vera_2", "email": "v2@example.com"});
    let response = update_as(&app, "vera", vera.id, &body).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let stored = stored_account(&app, vera.id).await;
    assert_eq!(stored.username, "vera_2");
    assert_eq!(stored.email.as_deref(), Some("v2@example.com"));
}

async fn admin_changes_role_and_enabled_with_form_booleans(app: TestApp) {
    app.user("root", Role::Admin).await;
    let bob = app.user("bob", Role::Viewer).await;
    let root = app.login("root").await;

    let disable = RequestBuilder::new(Method::PUT, &user_path(bob.id))
        .browser(&root)
        .form(&[("role", "editor"), ("enabled", "false")])
        .build();
    let response = app.send(disable).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["role"], "editor");
    assert_eq!(response.json()["enabled"], false);
    let stored = stored_account(&app, bob.id).await;
    assert_eq!((stored.role, stored.enabled), (Role::Editor, false));

    let enable = RequestBuilder::new(Method::PUT, &user_path(bob.id))
        .browser(&root)
        .multipart(&[("enabled", "true")])
        .build();
    let response = app.send(enable).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["enabled"], true);
    assert!(stored_account(&app, bob.id).await.enabled);
}

async fn own_password_change_needs_the_right_current_password(app: TestApp) {
    let vera = app.user("vera", Role::Viewer).await;
    let before = stored_account(&app, vera.id).await;

    let missing = update_as(&app, "vera", vera.id, &json!({"password": NEW_PASSWORD})).await;
    assert_detail_mentions(&missing, StatusCode::BAD_REQUEST, "current");
    let wrong = json!({"password": NEW_PASSWORD, "current_password": "not my password"});
    let wrong = update_as(&app, "vera", vera.id, &wrong).await;
    assert_detail_mentions(&wrong, StatusCode::BAD_REQUEST, "current");
    assert_eq!(stored_account(&app, vera.id).await, before);

    let right = json!({"password": NEW_PASSWORD, "current_password": PASSWORD});
    let response = update_as(&app, "vera", vera.id, &right).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let me = "/api/users/me";
    assert_eq!(
        basic_status(&app, me, "vera", NEW_PASSWORD).await,
        StatusCode::OK
    );
    assert_eq!(
        basic_status(&app, me, "vera", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn admin_sets_another_users_password_without_a_current_password(app: TestApp) {
    app.user("root", Role::Admin).await;
    let bob = app.user("bob", Role::Viewer).await;

    let response = update_as(&app, "root", bob.id, &json!({"password": NEW_PASSWORD})).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let me = "/api/users/me";
    assert_eq!(
        basic_status(&app, me, "bob", NEW_PASSWORD).await,
        StatusCode::OK
    );
}

async fn viewer_cannot_change_someone_else(app: TestApp) {
    app.user("vera", Role::Viewer).await;
    let bob = app.user("bob", Role::Viewer).await;
    let before = stored_account(&app, bob.id).await;

    let bodies = [
        json!({"email": "taken-over@example.com"}),
        json!({"password": NEW_PASSWORD}),
        json!({"enabled": false}),
    ];
    for body in &bodies {
        let response = update_as(&app, "vera", bob.id, body).await;
        assert_forbidden_for_lack_of(&response, "users.write");
    }

    assert_eq!(stored_account(&app, bob.id).await, before);
}

async fn viewer_cannot_change_their_own_role_or_enabled_flag(app: TestApp) {
    let vera = app.user("vera", Role::Viewer).await;
    let browser = app.login("vera").await;
    let before = stored_account(&app, vera.id).await;

    let promote = RequestBuilder::new(Method::PUT, &user_path(vera.id))
        .browser(&browser)
        .form(&[("role", "admin")])
        .build();
    assert_forbidden_for_lack_of(&app.send(promote).await, "users.write");
    let disable = update_from(&app, &browser, vera.id, &json!({"enabled": false})).await;
    assert_forbidden_for_lack_of(&disable, "users.write");

    assert_eq!(stored_account(&app, vera.id).await, before);
    assert_eq!(session_status(&app, &browser).await, StatusCode::OK);
}

async fn changing_an_unknown_user_is_404(app: TestApp) {
    let root = app.user("root", Role::Admin).await;

    let response = update_as(
        &app,
        "root",
        root.id + 100,
        &json!({"email": "x@example.com"}),
    )
    .await;

    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(response.detail(), "User not found");
    assert_eq!(user_count(&app).await, 1);
}

async fn refused_updates_store_nothing(app: TestApp) {
    app.user("root", Role::Admin).await;
    let vera = app.user("vera", Role::Viewer).await;
    let bob = app.user("bob", Role::Viewer).await;
    let taken = update_as(&app, "root", bob.id, &json!({"email": "bob@example.com"})).await;
    assert_eq!(taken.status, StatusCode::OK, "{}", taken.text());
    let browser = app.login("vera").await;
    let before = stored_account(&app, vera.id).await;

    let refusals = [
        (
            json!({"email": "fine@example.com", "username": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"username": "vera_new", "password": NEW_PASSWORD, "current_password": "no"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"username": "vera_new", "password": NEW_PASSWORD}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"email": "fine@example.com", "role": "admin"}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({
                "email": "BOB@example.com",
                "password": NEW_PASSWORD,
                "current_password": PASSWORD,
            }),
            StatusCode::CONFLICT,
        ),
        (
            json!({"username": "BOB", "password": NEW_PASSWORD, "current_password": PASSWORD}),
            StatusCode::CONFLICT,
        ),
    ];
    for (body, status) in &refusals {
        let response = update_from(&app, &browser, vera.id, body).await;
        assert_eq!(response.status, *status, "{body}: {}", response.text());
        assert_eq!(stored_account(&app, vera.id).await, before, "after {body}");
    }

    // An admin's change that conflicts must not revoke the target's credentials either.
    let by_admin = json!({"email": "bob@example.com", "password": NEW_PASSWORD});
    let response = update_as(&app, "root", vera.id, &by_admin).await;
    assert_eq!(response.status, StatusCode::CONFLICT, "{}", response.text());
    assert_eq!(stored_account(&app, vera.id).await, before);
    assert_eq!(session_status(&app, &browser).await, StatusCode::OK);
    let me = "/api/users/me";
    assert_eq!(
        basic_status(&app, me, "vera", PASSWORD).await,
        StatusCode::OK
    );
}
