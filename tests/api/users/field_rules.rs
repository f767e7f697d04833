//! The rules on usernames, emails and passwords, on creation and on change.

use axum::http::StatusCode;
use romm_server::auth::scopes::Role;
use serde_json::{json, Value};

use super::{
    assert_detail_mentions, basic_status, create_as, stored_account, update_as, user_count,
};
use crate::harness::{TestApp, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    usernames_are_checked_on_create_and_update,
    usernames_are_unique_regardless_of_case,
    emails_are_checked_and_optional,
    emails_are_unique_regardless_of_case,
    passwords_are_counted_in_characters_of_any_script,
);

async fn usernames_are_checked_on_create_and_update(app: TestApp) {
    let root = app.user("root", Role::Admin).await;
    let before = stored_account(&app, root.id).await;
    let too_long = "a".repeat(256);
    let bad_names = [
        "ab",
        too_long.as_str(),
        "with space",
        "ünïcode",
        "semi;colon",
        "dot.ted",
    ];

    for name in bad_names {
        let body = json!({"username": name, "password": PASSWORD, "role": "viewer"});
        let created = create_as(&app, "root", &body).await;
        assert_detail_mentions(&created, StatusCode::UNPROCESSABLE_ENTITY, "username");

        let renamed = update_as(&app, "root", root.id, &json!({"username": name})).await;
        assert_detail_mentions(&renamed, StatusCode::UNPROCESSABLE_ENTITY, "username");
    }
    assert_eq!(user_count(&app).await, 1);
    assert_eq!(stored_account(&app, root.id).await, before);

    let longest = "B".repeat(255);
    let body = json!({"username": longest, "password": PASSWORD, "role": "viewer"});
    let response = create_as(&app, "root", &body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_eq!(response.json()["username"], "b".repeat(255));
    let body = json!({"username": "Go-Getter_3", "password": PASSWORD, "role": "viewer"});
    let response = create_as(&app, "root", &body).await;
    assert_eq!(response.json()["username"], "go-getter_3");
}

async fn usernames_are_unique_regardless_of_case(app: TestApp) {
    app.user("root", Role::Admin).await;
    let bob = app.user("bob", Role::Viewer).await;
    let before = stored_account(&app, bob.id).await;

    let body = json!({"username": "BOB", "password": PASSWORD, "role": "viewer"});
    let created = create_as(&app, "root", &body).await;
    assert_detail_mentions(&created, StatusCode::CONFLICT, "username");
    assert_eq!(user_count(&app).await, 2);

    let renamed = update_as(&app, "root", bob.id, &json!({"username": "Root"})).await;
    assert_detail_mentions(&renamed, StatusCode::CONFLICT, "username");
    assert_eq!(stored_account(&app, bob.id).await, before);
}

async fn emails_are_checked_and_optional(app: TestApp) {
    let root = app.user("root", Role::Admin).await;
    let before = stored_account(&app, root.id).await;
    let bad_emails = [
        "plain",
        "@example.com",
        "a@b",
        "a b@example.com",
        "a@example..com",
    ];

    for email in bad_emails {
        let body = json!({"username": "bob", "password": PASSWORD, "email": email});
        let created = create_as(&app, "root", &body).await;
        assert_detail_mentions(&created, StatusCode::UNPROCESSABLE_ENTITY, "email");

        let changed = update_as(&app, "root", root.id, &json!({"email": email})).await;
        assert_detail_mentions(&changed, StatusCode::UNPROCESSABLE_ENTITY, "email");
    }
    assert_eq!(user_count(&app).await, 1);
    assert_eq!(stored_account(&app, root.id).await, before);

    let without = json!({"username": "bob", "password": PASSWORD, "role": "viewer"});
    let response = create_as(&app, "root", &without).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_eq!(response.json()["email"], Value::Null);
}

async fn emails_are_unique_regardless_of_case(app: TestApp) {
    let root = app.user("root", Role::Admin).await;
    let bob = app.user("bob", Role::Viewer).await;
    let set_email = update_as(&app, "root", root.id, &json!({"email": "root@example.com"})).await;
    assert_eq!(set_email.status, StatusCode::OK, "{}", set_email.text());
    let before = stored_account(&app, bob.id).await;

    let body = json!({"username": "carol", "password": PASSWORD, "email": "ROOT@Example.com"});
    let created = create_as(&app, "root", &body).await;
    assert_detail_mentions(&created, StatusCode::CONFLICT, "email");
    assert_eq!(user_count(&app).await, 2);

    let changed = update_as(&app, "root", bob.id, &json!({"email": "Root@EXAMPLE.com"})).await;
    assert_detail_mentions(&changed, StatusCode::CONFLICT, "email");
    assert_eq!(stored_account(&app, bob.id).await, before);
}

async fn passwords_are_counted_in_characters_of_any_script(app: TestApp) {
    let root = app.user("root", Role::Admin).await;
    let before = stored_account(&app, root.id).await;
    // Seven two-byte characters are fourteen bytes but still too short.
    let too_long = "x".repeat(257);
    let bad_passwords = ["1234567", "ééééééé", too_long.as_str()];

    for password in bad_passwords {
        let body = json!({"username": "bob", "password": password, "role": "viewer"});
        let created = create_as(&app, "root", &body).await;
        assert_detail_mentions(&created, StatusCode::UNPROCESSABLE_ENTITY, "password");

        let change = json!({"password": password, "current_password": PASSWORD});
        let changed = update_as(&app, "root", root.id, &change).await;
        assert_detail_mentions(&changed, StatusCode::UNPROCESSABLE_ENTITY, "password");
    }
    assert_eq!(user_count(&app).await, 1);
    assert_eq!(stored_account(&app, root.id).await, before);

    let longest = "y".repeat(256);
    for (username, password) in [
        ("accents", "éééééééé"),
        ("keys", "🔑🔐🗝鍵🔑🔐🗝鍵"),
        ("long", longest.as_str()),
    ] {
        let body = json!({"username": username, "password": password, "role": "viewer"});
        let created = create_as(&app, "root", &body).await;
        assert_eq!(
            created.status,
            StatusCode::CREATED,
            "{username}: {}",
            created.text()
        );
        let me = "/api/users/me";
        assert_eq!(
            basic_status(&app, me, username, password).await,
            StatusCode::OK
        );
    }
}
