//! Password resets (SPEC §7): an admin makes a one-use, ten-minute link; using it sets the
//! password and revokes every session, refresh grant and access token of the user. A
//! forgotten-password request only tells the admins.

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use romm_server::auth::scopes::Role;
use serde_json::{json, Value};

use super::{
    assert_detail_mentions, assert_forbidden_for_lack_of, basic_status, get_as, session_status,
    stored_account, NEW_PASSWORD,
};
use crate::harness::{RequestBuilder, TestApp, TestResponse, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    a_reset_link_sets_the_password_and_revokes_every_session_and_oauth_token,
    a_reset_link_works_once,
    a_reset_link_expires_after_ten_minutes,
    a_new_link_replaces_the_unused_one,
    only_users_writers_make_reset_links_for_users_that_exist,
    a_bad_new_password_is_422_and_leaves_the_link_usable,
    unknown_and_malformed_reset_tokens_are_400,
    concurrent_resets_with_one_link_succeed_exactly_once,
    forgot_password_answers_the_same_for_every_username,
    forgot_password_requests_wait_for_an_admin_until_a_link_is_made,
);

/// `POST /api/users/{id}/reset-link`, signed with HTTP Basic as `caller`.
async fn reset_link_as(app: &TestApp, caller: &str, id: i64) -> TestResponse {
    let uri = format!("/api/users/{id}/reset-link");
    let request = RequestBuilder::new(Method::POST, &uri)
        .basic(caller, PASSWORD)
        .build();
    app.send(request).await
}

async fn reset_token(app: &TestApp, caller: &str, id: i64) -> String {
    let response = reset_link_as(app, caller, id).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()["token"].as_str().unwrap().to_owned()
}

/// `POST /api/reset-password` with no credential.
async fn reset(app: &TestApp, token: &str, new_password: &str) -> TestResponse {
    let body = json!({"token": token, "new_password": new_password});
    let request = RequestBuilder::new(Method::POST, "/api/reset-password")
        .json(&body)
        .build();
    app.send(request).await
}

/// `POST /api/forgot-password` with no credential.
async fn forgot(app: &TestApp, body: &Value) -> TestResponse {
    let request = RequestBuilder::new(Method::POST, "/api/forgot-password")
        .json(body)
        .build();
    app.send(request).await
}

/// The access and refresh tokens of a password grant for `username`.
async fn oauth_tokens(app: &TestApp, username: &str) -> (String, String) {
    let request = RequestBuilder::new(Method::POST, "/api/token")
        .form(&[("username", username), ("password", PASSWORD)])
        .build();
    let response = app.send(request).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    let token = |name: &str| body[name].as_str().unwrap().to_owned();
    (token("access_token"), token("refresh_token"))
}

async fn bearer_status(app: &TestApp, token: &str) -> StatusCode {
    let request = RequestBuilder::get("/api/users/me")
        .authorization(&format!("Bearer {token}"))
        .build();
    app.send(request).await.status
}

async fn refresh_status(app: &TestApp, refresh_token: &str) -> StatusCode {
    let pairs = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    let request = RequestBuilder::new(Method::POST, "/api/token")
        .form(&pairs)
        .build();
    app.send(request).await.status
}

/// A client API token of `username`'s, minted over Basic.
async fn client_token(app: &TestApp, username: &str) -> String {
    let body = json!({"name": "handheld", "scopes": ["me.read"], "expires_in": "never"});
    let request = RequestBuilder::new(Method::POST, "/api/client-tokens")
        .basic(username, PASSWORD)
        .json(&body)
        .build();
    let response = app.send(request).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()["raw_token"].as_str().unwrap().to_owned()
}

async fn a_reset_link_sets_the_password_and_revokes_every_session_and_oauth_token(app: TestApp) {
    app.user("root", Role::Admin).await;
    let vera = app.user("vera", Role::Viewer).await;
    let browser = app.login("vera").await;
    let (access, refresh) = oauth_tokens(&app, "vera").await;
    let handheld = client_token(&app, "vera").await;

    let link = reset_link_as(&app, "root", vera.id).await;
    assert_eq!(link.status, StatusCode::OK, "{}", link.text());
    let token = link.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(link.json()["url"], format!("/reset-password?token={token}"));
    let expires_at: DateTime<Utc> = link.json()["expires_at"].as_str().unwrap().parse().unwrap();
    let off_by = (expires_at - (Utc::now() + Duration::minutes(10))).num_seconds();
    assert!(off_by.abs() <= 30, "{expires_at}");
    assert_eq!(session_status(&app, &browser).await, StatusCode::OK);

    let response = reset(&app, &token, NEW_PASSWORD).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json(), Value::Null);
    let me = "/api/users/me";
    assert_eq!(
        basic_status(&app, me, "vera", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        basic_status(&app, me, "vera", NEW_PASSWORD).await,
        StatusCode::OK
    );
    assert_eq!(
        session_status(&app, &browser).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(bearer_status(&app, &access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh_status(&app, &refresh).await,
        StatusCode::UNAUTHORIZED
    );
    // Client tokens outlive a password change of any kind; they are revoked one by one.
    assert_eq!(bearer_status(&app, &handheld).await, StatusCode::OK);
    assert_eq!(stored_account(&app, vera.id).await.sessions, 0);
}

async fn a_reset_link_works_once(app: TestApp) {
    app.user("root", Role::Admin).await;
    let vera = app.user("vera", Role::Viewer).await;
    let token = reset_token(&app, "root", vera.id).await;
    assert_eq!(
        reset(&app, &token, NEW_PASSWORD).await.status,
        StatusCode::OK
    );
    let after_first = stored_account(&app, vera.id).await;

    let again = reset(&app, &token, "yet another passphrase").await;

    assert_detail_mentions(&again, StatusCode::BAD_REQUEST, "reset link");
    assert_eq!(stored_account(&app, vera.id).await, after_first);
}

async fn a_reset_link_expires_after_ten_minutes(app: TestApp) {
    app.user("root", Role::Admin).await;
    let vera = app.user("vera", Role::Viewer).await;
    let token = reset_token(&app, "root", vera.id).await;
    let before = stored_account(&app, vera.id).await;
    let made_at = Utc::now() - Duration::minutes(10) - Duration::seconds(1);
    app.set_time_of_every_row("password_resets", "created_at", made_at)
        .await;
    let expired_at = made_at + Duration::minutes(10);
    app.set_time_of_every_row("password_resets", "expires_at", expired_at)
        .await;

    let response = reset(&app, &token, NEW_PASSWORD).await;

    assert_detail_mentions(&response, StatusCode::BAD_REQUEST, "expired");
    assert_eq!(stored_account(&app, vera.id).await, before);
}

async fn a_new_link_replaces_the_unused_one(app: TestApp) {
    app.user("root", Role::Admin).await;
    let vera = app.user("vera", Role::Viewer).await;
    let first = reset_token(&app, "root", vera.id).await;
    let second = reset_token(&app, "root", vera.id).await;

    let with_first = reset(&app, &first, NEW_PASSWORD).await;
    let with_second = reset(&app, &second, NEW_PASSWORD).await;

    assert_eq!(
        with_first.status,
        StatusCode::BAD_REQUEST,
        "{}",
        with_first.text()
    );
    assert_eq!(with_second.status, StatusCode::OK, "{}", with_second.text());
}

async fn only_users_writers_make_reset_links_for_users_that_exist(app: TestApp) {
    app.user("root", Role::Admin).await;
    let eddie = app.user("eddie", Role::Editor).await;
    let vera = app.user("vera", Role::Viewer).await;

    assert_forbidden_for_lack_of(&reset_link_as(&app, "eddie", vera.id).await, "users.write");
    assert_forbidden_for_lack_of(&reset_link_as(&app, "vera", vera.id).await, "users.write");
    let anonymous =
        RequestBuilder::new(Method::POST, &format!("/api/users/{}/reset-link", eddie.id));
    assert_eq!(
        app.send(anonymous.build()).await.status,
        StatusCode::UNAUTHORIZED
    );
    let missing = reset_link_as(&app, "root", vera.id + 100).await;
    assert_detail_mentions(&missing, StatusCode::NOT_FOUND, "user");
    assert_eq!(app.count_rows("password_resets").await, 0);
}

async fn a_bad_new_password_is_422_and_leaves_the_link_usable(app: TestApp) {
    app.user("root", Role::Admin).await;
    let vera = app.user("vera", Role::Viewer).await;
    let token = reset_token(&app, "root", vera.id).await;
    let before = stored_account(&app, vera.id).await;

    let response = reset(&app, &token, "short").await;

    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.text()
    );
    assert_eq!(response.json()["errors"][0]["field"], "new_password");
    assert_eq!(stored_account(&app, vera.id).await, before);
    assert_eq!(
        reset(&app, &token, NEW_PASSWORD).await.status,
        StatusCode::OK
    );
}

async fn unknown_and_malformed_reset_tokens_are_400(app: TestApp) {
    let vera = app.user("vera", Role::Viewer).await;
    let before = stored_account(&app, vera.id).await;
    let unknown = "f".repeat(64);

    for token in ["", "reset-me", unknown.as_str(), &"F".repeat(64)] {
        let response = reset(&app, token, NEW_PASSWORD).await;

        assert_detail_mentions(&response, StatusCode::BAD_REQUEST, "reset link");
    }
    let no_token = RequestBuilder::new(Method::POST, "/api/reset-password")
        .json(&json!({"new_password": NEW_PASSWORD}))
        .build();
    assert_eq!(
        app.send(no_token).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(stored_account(&app, vera.id).await, before);
}

async fn concurrent_resets_with_one_link_succeed_exactly_once(app: TestApp) {
    app.user("root", Role::Admin).await;
    let vera = app.user("vera", Role::Viewer).await;
    let token = reset_token(&app, "root", vera.id).await;

    let passwords: Vec<String> = (0..8).map(|n| format!("racing passphrase {n}")).collect();
    let attempts = passwords
        .iter()
        .map(|password| reset(&app, &token, password));
    let responses = join_all(attempts).await;

    let winners: Vec<&String> = passwords
        .iter()
        .zip(&responses)
        .filter(|(_, response)| response.status == StatusCode::OK)
        .map(|(password, _)| password)
        .collect();
    assert_eq!(winners.len(), 1);
    let me = "/api/users/me";
    assert_eq!(
        basic_status(&app, me, "vera", winners[0]).await,
        StatusCode::OK
    );
    assert_eq!(stored_account(&app, vera.id).await.credential_version, 1);
}

async fn forgot_password_answers_the_same_for_every_username(app: TestApp) {
    app.user("vera", Role::Viewer).await;

    let known = forgot(&app, &json!({"username": "Vera"})).await;
    let unknown = forgot(&app, &json!({"username": "nobody"})).await;
    let malformed = forgot(&app, &json!({"username": "not a name!"})).await;

    for response in [&known, &unknown, &malformed] {
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        assert_eq!(response.json(), Value::Null);
    }
    assert_eq!(app.count_rows("password_reset_requests").await, 1);
    assert_eq!(app.count_rows("password_resets").await, 0);
    let no_username = forgot(&app, &json!({})).await;
    assert_eq!(no_username.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn forgot_password_requests_wait_for_an_admin_until_a_link_is_made(app: TestApp) {
    app.user("root", Role::Admin).await;
    app.user("eddie", Role::Editor).await;
    let vera = app.user("vera", Role::Viewer).await;
    forgot(&app, &json!({"username": "vera"})).await;
    forgot(&app, &json!({"username": "vera"})).await;
    forgot(&app, &json!({"username": "eddie"})).await;

    let listed = get_as(&app, "root", "/api/users/reset-requests").await;

    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
    let requests = listed.json();
    let names: Vec<&str> = requests
        .as_array()
        .unwrap()
        .iter()
        .map(|request| request["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["eddie", "vera"]);
    assert_eq!(requests[1]["user_id"], vera.id);
    assert_eq!(requests[1]["request_count"], 2);
    assert_eq!(requests[1]["client_address"], "127.0.0.1");
    let viewer = get_as(&app, "vera", "/api/users/reset-requests").await;
    assert_forbidden_for_lack_of(&viewer, "users.read");

    reset_token(&app, "root", vera.id).await;

    let listed = get_as(&app, "root", "/api/users/reset-requests")
        .await
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["username"], "eddie");
}
