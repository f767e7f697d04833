//! How password, enabled, role and account changes revoke a user's sessions and Basic
//! credentials on the very next request (SPEC §7).

use axum::http::{Method, StatusCode};
use chrono::Utc;
use romm_server::auth::scopes::Role;
use secrecy::ExposeSecret;
use serde_json::json;

use super::{
    assert_forbidden_for_lack_of, basic_status, delete_as, get_as, session_status, stored_account,
    update_as, update_from, NEW_PASSWORD, VIEWER_SCOPES,
};
use crate::harness::{RequestBuilder, TestApp, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    own_password_change_keeps_only_the_session_it_came_from,
    own_password_change_over_basic_ends_every_session,
    password_set_by_an_admin_ends_every_session_and_basic_credential,
    password_set_by_another_process_ends_sessions_and_tokens_at_once,
    disabling_a_user_ends_their_sessions_and_basic_credentials,
    role_change_ends_sessions_and_shrinks_basic_scopes_at_once,
    own_role_change_ends_even_the_current_session,
    deleting_a_user_ends_their_sessions_and_basic_credentials,
    email_and_username_changes_end_no_session,
);

async fn own_password_change_keeps_only_the_session_it_came_from(app: TestApp) {
    let vera = app.user("vera", Role::Viewer).await;
    let laptop = app.login("vera").await;
    let phone = app.login("vera").await;
    let me = "/api/users/me";
    assert_eq!(
        basic_status(&app, me, "vera", PASSWORD).await,
        StatusCode::OK
    );

    let change = json!({"password": NEW_PASSWORD, "current_password": PASSWORD});
    let response = update_from(&app, &laptop, vera.id, &change).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(session_status(&app, &laptop).await, StatusCode::OK);
    assert_eq!(session_status(&app, &phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        basic_status(&app, me, "vera", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        basic_status(&app, me, "vera", NEW_PASSWORD).await,
        StatusCode::OK
    );
    assert_eq!(stored_account(&app, vera.id).await.sessions, 1);
}

async fn own_password_change_over_basic_ends_every_session(app: TestApp) {
    let vera = app.user("vera", Role::Viewer).await;
    let browser = app.login("vera").await;

    let change = json!({"password": NEW_PASSWORD, "current_password": PASSWORD});
    let response = update_as(&app, "vera", vera.id, &change).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        session_status(&app, &browser).await,
        StatusCode::UNAUTHORIZED
    );
    let me = "/api/users/me";
    assert_eq!(
        basic_status(&app, me, "vera", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(stored_account(&app, vera.id).await.sessions, 0);
}

async fn password_set_by_an_admin_ends_every_session_and_basic_credential(app: TestApp) {
    let root = app.user("root", Role::Admin).await;
    let bob = app.user("bob", Role::Viewer).await;
    let root_browser = app.login("root").await;
    let bob_laptop = app.login("bob").await;
    let bob_phone = app.login("bob").await;
    let me = "/api/users/me";
    assert_eq!(
        basic_status(&app, me, "bob", PASSWORD).await,
        StatusCode::OK
    );

    let response = update_from(
        &app,
        &root_browser,
        bob.id,
        &json!({"password": NEW_PASSWORD}),
    )
    .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        session_status(&app, &bob_laptop).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        session_status(&app, &bob_phone).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        basic_status(&app, me, "bob", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        basic_status(&app, me, "bob", NEW_PASSWORD).await,
        StatusCode::OK
    );
    assert_eq!(session_status(&app, &root_browser).await, StatusCode::OK);
    assert_eq!(stored_account(&app, root.id).await.sessions, 1);
}

/// `romm-server user set-password`, run beside the live server as an operator would, commits
/// from another process: the server must notice on its very next request, cache or not.
async fn password_set_by_another_process_ends_sessions_and_tokens_at_once(app: TestApp) {
    app.user("bob", Role::Viewer).await;
    let browser = app.login("bob").await;
    let grant = RequestBuilder::new(Method::POST, "/api/token")
        .form(&[("username", "bob"), ("password", PASSWORD)])
        .build();
    let grant = app.send(grant).await.json();
    let bearer = format!("Bearer {}", grant["access_token"].as_str().unwrap());
    let me = "/api/users/me";
    let bearer_status = || async {
        let request = RequestBuilder::get(me).authorization(&bearer).build();
        app.send(request).await.status
    };
    // Twice each, so that a second answer could come from memory.
    for _ in 0..2 {
        assert_eq!(session_status(&app, &browser).await, StatusCode::OK);
        assert_eq!(bearer_status().await, StatusCode::OK);
        assert_eq!(
            basic_status(&app, me, "bob", PASSWORD).await,
            StatusCode::OK
        );
    }

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_romm-server"))
        .env_clear()
        .env(
            "DATABASE_URL",
            app.state.config.database_url.expose_secret(),
        )
        .env("ROMM_USER_PASSWORD", NEW_PASSWORD)
        .args(["user", "set-password", "--username", "bob"])
        .output()
        .await
        .expect("run romm-server user set-password");
    assert!(output.status.success(), "{output:?}");

    assert_eq!(
        session_status(&app, &browser).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(bearer_status().await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        basic_status(&app, me, "bob", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        basic_status(&app, me, "bob", NEW_PASSWORD).await,
        StatusCode::OK
    );
}

async fn disabling_a_user_ends_their_sessions_and_basic_credentials(app: TestApp) {
    app.user("root", Role::Admin).await;
    let bob = app.user("bob", Role::Editor).await;
    let bob_browser = app.login("bob").await;
    let me = "/api/users/me";
    assert_eq!(
        basic_status(&app, me, "bob", PASSWORD).await,
        StatusCode::OK
    );

    let response = update_as(&app, "root", bob.id, &json!({"enabled": false})).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        session_status(&app, &bob_browser).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        basic_status(&app, me, "bob", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );

    let response = update_as(&app, "root", bob.id, &json!({"enabled": true})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        session_status(&app, &bob_browser).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        basic_status(&app, me, "bob", PASSWORD).await,
        StatusCode::OK
    );
}

async fn role_change_ends_sessions_and_shrinks_basic_scopes_at_once(app: TestApp) {
    app.user("root", Role::Admin).await;
    let bob = app.user("bob", Role::Admin).await;
    let bob_browser = app.login("bob").await;
    let users = "/api/users";
    assert_eq!(
        basic_status(&app, users, "bob", PASSWORD).await,
        StatusCode::OK
    );

    let response = update_as(&app, "root", bob.id, &json!({"role": "viewer"})).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        session_status(&app, &bob_browser).await,
        StatusCode::UNAUTHORIZED
    );
    let listing = get_as(&app, "bob", users).await;
    assert_forbidden_for_lack_of(&listing, "users.read");
    let me = get_as(&app, "bob", "/api/users/me").await;
    assert_eq!(me.json()["role"], "viewer");
    assert_eq!(me.json()["oauth_scopes"], json!(VIEWER_SCOPES));
}

async fn own_role_change_ends_even_the_current_session(app: TestApp) {
    let ann = app.user("ann", Role::Admin).await;
    app.user("ben", Role::Admin).await;
    let browser = app.login("ann").await;

    let response = update_from(&app, &browser, ann.id, &json!({"role": "editor"})).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        session_status(&app, &browser).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(stored_account(&app, ann.id).await.role, Role::Editor);
}

async fn deleting_a_user_ends_their_sessions_and_basic_credentials(app: TestApp) {
    app.user("root", Role::Admin).await;
    let bob = app.user("bob", Role::Viewer).await;
    let bob_browser = app.login("bob").await;
    let me = "/api/users/me";
    assert_eq!(
        basic_status(&app, me, "bob", PASSWORD).await,
        StatusCode::OK
    );

    let response = delete_as(&app, "root", bob.id).await;

    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert_eq!(
        session_status(&app, &bob_browser).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        basic_status(&app, me, "bob", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(app
        .store()
        .list_sessions(bob.id, Utc::now())
        .await
        .unwrap()
        .is_empty());
}

async fn email_and_username_changes_end_no_session(app: TestApp) {
    let vera = app.user("vera", Role::Viewer).await;
    let laptop = app.login("vera").await;
    let phone = app.login("vera").await;
    let version = stored_account(&app, vera.id).await.credential_version;

    let body = json!({"email": "vera@example.com", "username": "vera_renamed"});
    let response = update_from(&app, &laptop, vera.id, &body).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(session_status(&app, &laptop).await, StatusCode::OK);
    assert_eq!(session_status(&app, &phone).await, StatusCode::OK);
    let stored = stored_account(&app, vera.id).await;
    assert_eq!((stored.sessions, stored.credential_version), (2, version));
}
