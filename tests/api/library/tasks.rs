//! `/api/tasks`: only admins list and run tasks, and the cleanup deletes exactly the
//! credentials that can no longer be used.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use romm_server::auth::scopes::Role;
use romm_server::store::{
    DeviceApproval, DevicePoll, NewClientToken, NewDeviceAuthRequest, NewInvite, NewPasswordReset,
    NewRefreshGrant, NewRefreshToken, NewSession, Registration, Store,
};
use serde_json::json;

use super::{assert_lacks, expect, get, post, users};
use crate::harness::TestApp;
use crate::on_both_backends;

on_both_backends!(
    only_admins_list_and_run_tasks,
    an_unknown_task_is_404,
    cleanup_deletes_exactly_the_dead_credentials_and_reports_the_counts,
);

const CLEANUP: &str = "/api/tasks/run/cleanup_expired_credentials";

async fn only_admins_list_and_run_tasks(app: TestApp) {
    users(&app).await;

    for username in ["viewer", "editor"] {
        assert_lacks(&get(&app, "/api/tasks", username).await, "tasks.run");
        assert_lacks(&post(&app, CLEANUP, username, json!({})).await, "tasks.run");
        let unknown = post(&app, "/api/tasks/run/nope", username, json!({})).await;
        assert_lacks(&unknown, "tasks.run");
    }

    let listed = expect(get(&app, "/api/tasks", "admin").await, StatusCode::OK).json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "cleanup_expired_credentials");
    assert!(!listed[0]["description"].as_str().unwrap().is_empty());
    let ran = expect(
        post(&app, CLEANUP, "admin", json!({})).await,
        StatusCode::OK,
    );
    assert_eq!(ran.json()["task"], "cleanup_expired_credentials");
}

async fn an_unknown_task_is_404(app: TestApp) {
    users(&app).await;

    let response = post(&app, "/api/tasks/run/cleanup", "admin", json!({})).await;

    let response = expect(response, StatusCode::NOT_FOUND);
    assert_eq!(response.detail(), "Task not found");
}

/// A distinct 32-byte hash for test credential number `seed`.
fn hash(seed: u8) -> Vec<u8> {
    vec![seed; 32]
}

async fn session(store: &dyn Store, user_id: i64, seed: u8, idle: Duration, absolute: Duration) {
    let now = Utc::now();
    let session = NewSession {
        public_id: format!("session-{seed}"),
        token_hash: hash(seed),
        user_id,
        created_at: now - Duration::days(1),
        idle_expires_at: now + idle,
        absolute_expires_at: now + absolute,
        user_agent: None,
        client_address: None,
        oidc_id_token: None,
    };
    store.create_session(session).await.unwrap();
}

async fn grant(store: &dyn Store, user_id: i64, seed: u8, expires_at: DateTime<Utc>) -> i64 {
    let grant = NewRefreshGrant {
        user_id,
        scopes: 1,
        credential_version: 0,
        created_at: Utc::now() - Duration::days(1),
        expires_at,
        first_token: NewRefreshToken {
            token_hash: hash(seed),
            expires_at,
        },
    };
    store.create_refresh_grant(grant).await.unwrap()
}

async fn client_token(
    store: &dyn Store,
    user_id: i64,
    seed: u8,
    expires_at: Option<DateTime<Utc>>,
) -> i64 {
    let token = NewClientToken {
        user_id,
        device_id: None,
        name: format!("token {seed}"),
        token_hash: hash(seed),
        scopes: 1,
        expires_at,
        created_at: Utc::now() - Duration::days(1),
    };
    store.create_client_token(token, 25).await.unwrap().id
}

async fn pair(store: &dyn Store, token_id: i64, owner: i64, seed: u8, expires_at: DateTime<Utc>) {
    let code_hash = hash(seed);
    let paired = store.create_pairing_code(token_id, owner, &code_hash, Utc::now(), expires_at);
    assert!(paired.await.unwrap());
}

async fn device_request(store: &dyn Store, seed: u8, expires_at: DateTime<Utc>) {
    let request = NewDeviceAuthRequest {
        device_code_hash: hash(seed),
        user_code_hash: hash(seed + 100),
        client_device_identifier: format!("device-{seed}"),
        name: "Handheld".to_owned(),
        client: "grout".to_owned(),
        platform: None,
        client_version: None,
        requested_scopes: 1,
        created_at: Utc::now() - Duration::minutes(5),
        expires_at,
    };
    store.create_device_auth(request).await.unwrap();
}

async fn approve(store: &dyn Store, user_id: i64, seed: u8) {
    let approval = DeviceApproval {
        user_id,
        device_name: "Handheld".to_owned(),
        scopes: 1,
        token_expires_at: None,
        placeholder_hash: hash(seed + 50),
        max_active_tokens: 25,
        now: Utc::now(),
    };
    let device = store.approve_device_auth(&hash(seed + 100), approval).await;
    assert!(device.unwrap().is_some());
}

async fn invite(store: &dyn Store, inviter: i64, seed: u8, expires_at: DateTime<Utc>) {
    let invite = NewInvite {
        token_hash: hash(seed),
        role: Role::Viewer,
        created_by: inviter,
        created_at: Utc::now() - Duration::days(1),
        expires_at,
    };
    store.create_invite(invite).await.unwrap();
}

async fn password_reset(store: &dyn Store, user_id: i64, seed: u8, expires_at: DateTime<Utc>) {
    let reset = NewPasswordReset {
        token_hash: hash(seed),
        user_id,
        created_by: user_id,
        created_at: Utc::now() - Duration::days(1),
        expires_at,
    };
    store.create_password_reset(reset).await.unwrap();
}

async fn cleanup_deletes_exactly_the_dead_credentials_and_reports_the_counts(app: TestApp) {
    users(&app).await;
    let user = app.user("owner", Role::Viewer).await;
    let store = app.store().as_ref();
    let (past, future) = (
        Utc::now() - Duration::hours(1),
        Utc::now() + Duration::hours(1),
    );
    let (hour, day) = (Duration::hours(1), Duration::days(1));

    session(store, user.id, 1, hour, day).await;
    session(store, user.id, 2, -hour, day).await;
    session(store, user.id, 3, hour, -hour).await;
    grant(store, user.id, 10, future).await;
    grant(store, user.id, 11, past).await;
    let revoked = grant(store, user.id, 12, future).await;
    store.revoke_refresh_grant(revoked).await.unwrap();
    let first_live_token = client_token(store, user.id, 20, None).await;
    let second_live_token = client_token(store, user.id, 21, Some(future)).await;
    client_token(store, user.id, 22, Some(past)).await;
    // Creating a code sweeps expired ones, so the expired code comes last.
    pair(store, second_live_token, user.id, 31, future).await;
    pair(store, first_live_token, user.id, 30, past).await;
    device_request(store, 40, future).await;
    device_request(store, 41, past).await;
    device_request(store, 42, future).await;
    assert!(store
        .deny_device_auth(&hash(142), Utc::now())
        .await
        .unwrap());
    device_request(store, 43, future).await;
    approve(store, user.id, 43).await;
    let (device_code, new_secret) = (hash(43), hash(243));
    let poll = store.poll_device_auth(&device_code, &new_secret, Utc::now(), Duration::zero());
    assert!(matches!(poll.await.unwrap(), DevicePoll::Completed(_)));
    device_request(store, 44, future).await;
    approve(store, user.id, 44).await;
    let admin = store.find_user_by_username("admin").await.unwrap().unwrap();
    invite(store, admin.id, 50, future).await;
    invite(store, admin.id, 51, past).await;
    invite(store, admin.id, 52, future).await;
    let registration = Registration {
        username: "invited".to_owned(),
        email: None,
        password_hash: user.password_hash.clone(),
    };
    let registered = store
        .register_with_invite(&hash(52), Utc::now(), registration)
        .await;
    assert!(registered.unwrap().is_some());
    // A user holds one unused reset link at a time, so each link here has its own user.
    let editor = store
        .find_user_by_username("editor")
        .await
        .unwrap()
        .unwrap();
    password_reset(store, user.id, 60, future).await;
    password_reset(store, editor.id, 61, past).await;
    password_reset(store, admin.id, 62, future).await;
    let reset = store
        .reset_password(&hash(62), Utc::now(), &admin.password_hash)
        .await;
    assert!(reset.unwrap().is_some());

    let first = post(&app, CLEANUP, "admin", json!({})).await;
    let second = post(&app, CLEANUP, "admin", json!({})).await;

    let removed = |sessions, grants, tokens, codes, requests, invites, resets| {
        json!({
            "task": "cleanup_expired_credentials",
            "removed": {
                "sessions": sessions,
                "refresh_grants": grants,
                "client_tokens": tokens,
                "pairing_codes": codes,
                "device_auth_requests": requests,
                "invites": invites,
                "password_resets": resets,
            },
        })
    };
    assert_eq!(
        expect(first, StatusCode::OK).json(),
        removed(2, 2, 1, 1, 3, 2, 2)
    );
    assert_eq!(
        expect(second, StatusCode::OK).json(),
        removed(0, 0, 0, 0, 0, 0, 0)
    );
    assert!(store.find_session(&hash(1)).await.unwrap().is_some());
    assert!(store.find_refresh_token(&hash(10)).await.unwrap().is_some());
    assert!(store.find_client_token(&hash(20)).await.unwrap().is_some());
    assert!(store.find_client_token(&hash(21)).await.unwrap().is_some());
    assert!(store.find_client_token(&hash(22)).await.unwrap().is_none());
    assert!(store
        .pairing_code_is_pending(&hash(31), Utc::now())
        .await
        .unwrap());
    assert!(store.find_device_auth(&hash(140)).await.unwrap().is_some());
    assert!(store.find_device_auth(&hash(144)).await.unwrap().is_some());
    assert!(store.find_device_auth(&hash(141)).await.unwrap().is_none());
    assert!(store.find_device_auth(&hash(143)).await.unwrap().is_none());
    let now = Utc::now();
    assert!(store
        .find_pending_invite(&hash(50), now)
        .await
        .unwrap()
        .is_some());
    let live_reset = store.find_pending_password_reset(&hash(60), now).await;
    assert_eq!(live_reset.unwrap(), Some(user.id));
}
