//! Creating users: first-run setup, who may create whom, and the body formats.

use axum::http::{Method, StatusCode};
use romm_server::auth::scopes::Role;
use serde_json::{json, Value};

use super::{
    assert_detail_mentions, assert_forbidden_for_lack_of, assert_user_schema, basic_status,
    create_as, stored_account, user_count, MultipartForm,
};
use crate::harness::{RequestBuilder, TestApp, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    first_run_setup_is_open_and_always_creates_an_admin,
    first_run_setup_refuses_bad_fields_and_stays_open,
    after_setup_anonymous_creation_is_401_even_with_a_bad_body,
    admin_creates_a_user_shown_with_exactly_the_schema_fields,
    create_accepts_urlencoded_and_multipart_forms,
    creating_a_user_needs_users_write,
    only_an_admin_creates_an_admin,
);

async fn first_run_setup_is_open_and_always_creates_an_admin(app: TestApp) {
    let setup = RequestBuilder::new(Method::POST, "/api/users")
        .json(&json!({"username": "Root", "password": PASSWORD, "role": "viewer"}))
        .build();
    let response = app.send(setup).await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_user_schema(&response);
    assert_eq!(response.json()["username"], "root");
    assert_eq!(response.json()["role"], "admin");
    assert_eq!(
        basic_status(&app, "/api/users", "root", PASSWORD).await,
        StatusCode::OK
    );

    let second = RequestBuilder::new(Method::POST, "/api/users")
        .json(&json!({"username": "mallory", "password": PASSWORD, "role": "admin"}))
        .build();
    let response = app.send(second).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(response.detail(), "Not authenticated");
    assert_eq!(
        response.header("www-authenticate"),
        Some(r#"Bearer realm="romm""#)
    );
    assert_eq!(user_count(&app).await, 1);
}

async fn first_run_setup_refuses_bad_fields_and_stays_open(app: TestApp) {
    let bad = RequestBuilder::new(Method::POST, "/api/users")
        .json(&json!({"username": "no spaces allowed", "password": PASSWORD}))
        .build();
    let response = app.send(bad).await;
    assert_detail_mentions(&response, StatusCode::UNPROCESSABLE_ENTITY, "username");
    assert_eq!(user_count(&app).await, 0);

    let short = RequestBuilder::new(Method::POST, "/api/users")
        .json(&json!({"username": "root", "password": "short"}))
        .build();
    let response = app.send(short).await;
    assert_detail_mentions(&response, StatusCode::UNPROCESSABLE_ENTITY, "password");
    assert_eq!(user_count(&app).await, 0);

    let good = RequestBuilder::new(Method::POST, "/api/users")
        .json(&json!({"username": "root", "password": PASSWORD}))
        .build();
    let response = app.send(good).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_eq!(response.json()["role"], "admin");
}

async fn after_setup_anonymous_creation_is_401_even_with_a_bad_body(app: TestApp) {
    app.user("root", Role::Admin).await;

    for body in ["{\"username\": \"x\"}", "{broken", ""] {
        let request = RequestBuilder::new(Method::POST, "/api/users")
            .raw_body("application/json", body)
            .build();
        let response = app.send(request).await;

        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "body {body:?}");
        assert_eq!(response.detail(), "Not authenticated");
    }
    assert_eq!(user_count(&app).await, 1);
}

async fn admin_creates_a_user_shown_with_exactly_the_schema_fields(app: TestApp) {
    app.user("root", Role::Admin).await;

    let body = json!({
        "username": "Bob",
        "password": PASSWORD,
        "email": "bob@example.com",
        "role": "editor",
    });
    let response = create_as(&app, "root", &body).await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_user_schema(&response);
    let created = response.json();
    assert_eq!(created["username"], "bob");
    assert_eq!(created["email"], "bob@example.com");
    assert_eq!(created["role"], "editor");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["current_device_id"], Value::Null);
    let id = created["id"].as_i64().unwrap();
    let stored = stored_account(&app, id).await;
    assert!(stored.password_hash.starts_with("$argon2id$"));
    assert_eq!(
        basic_status(&app, "/api/users/me", "bob", PASSWORD).await,
        StatusCode::OK
    );
}

async fn create_accepts_urlencoded_and_multipart_forms(app: TestApp) {
    app.user("root", Role::Admin).await;

    let form = RequestBuilder::new(Method::POST, "/api/users")
        .basic("root", PASSWORD)
        .form(&[
            ("username", "formed"),
            ("password", PASSWORD),
            ("role", "editor"),
        ])
        .build();
    let response = app.send(form).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_eq!(response.json()["role"], "editor");

    let multipart = RequestBuilder::new(Method::POST, "/api/users")
        .basic("root", PASSWORD)
        .multipart(&[
            ("username", "parted"),
            ("password", PASSWORD),
            ("role", "viewer"),
        ])
        .build();
    let response = app.send(multipart).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_eq!(response.json()["username"], "parted");
    assert_eq!(user_count(&app).await, 3);
}

async fn creating_a_user_needs_users_write(app: TestApp) {
    app.user("vera", Role::Viewer).await;

    let body = json!({"username": "newcomer", "password": PASSWORD, "role": "viewer"});
    let response = create_as(&app, "vera", &body).await;
    assert_forbidden_for_lack_of(&response, "users.write");

    let garbage = RequestBuilder::new(Method::POST, "/api/users")
        .basic("vera", PASSWORD)
        .raw_body("application/json", "{broken")
        .build();
    let response = app.send(garbage).await;
    assert_forbidden_for_lack_of(&response, "users.write");

    let anonymous = RequestBuilder::new(Method::POST, "/api/users")
        .json(&body)
        .build();
    assert_eq!(app.send(anonymous).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(user_count(&app).await, 1);
}

async fn only_an_admin_creates_an_admin(app: TestApp) {
    app.user("root", Role::Admin).await;
    app.user("eddie", Role::Editor).await;

    let body = json!({"username": "second", "password": PASSWORD, "role": "admin"});
    let by_editor = create_as(&app, "eddie", &body).await;
    assert_eq!(by_editor.status, StatusCode::FORBIDDEN);
    assert_eq!(user_count(&app).await, 2);

    let by_admin = create_as(&app, "root", &body).await;
    assert_eq!(by_admin.status, StatusCode::CREATED, "{}", by_admin.text());
    assert_eq!(by_admin.json()["role"], "admin");
    assert_eq!(
        basic_status(&app, "/api/users", "second", PASSWORD).await,
        StatusCode::OK
    );
}
