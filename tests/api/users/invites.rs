//! Invite links (SPEC §7): an admin makes a one-use link with a role and a lifetime, and the
//! person holding it registers one account with that role.

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use romm_server::auth::scopes::Role;
use serde_json::{json, Value};

use super::{assert_detail_mentions, basic_status, delete_as, update_as, user_count};
use crate::harness::{Backend, RequestBuilder, TestApp, TestResponse, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    an_invite_registers_one_account_with_its_role,
    the_lifetime_comes_from_the_query_or_the_configuration,
    bad_roles_and_lifetimes_are_422_and_store_nothing,
    only_users_writers_invite,
    expired_invites_register_nobody,
    unknown_and_malformed_invites_are_400_before_any_field_is_checked,
    a_taken_username_or_a_bad_field_leaves_the_invite_usable,
    concurrent_registrations_with_one_invite_succeed_exactly_once,
    an_invite_dies_with_its_inviters_authority;
    configured: the_link_points_at_the_public_url_when_one_is_configured,
);

/// `POST /api/users/invite-link?{query}`, signed with HTTP Basic as `caller`.
async fn invite_as(app: &TestApp, caller: &str, query: &str) -> TestResponse {
    let uri = format!("/api/users/invite-link?{query}");
    let request = RequestBuilder::new(Method::POST, &uri)
        .basic(caller, PASSWORD)
        .build();
    app.send(request).await
}

/// A fresh invite's token, made by `caller`.
async fn invite_token(app: &TestApp, caller: &str, role: &str) -> String {
    let response = invite_as(app, caller, &format!("role={role}")).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()["token"].as_str().unwrap().to_owned()
}

/// `POST /api/users/register` with a JSON body and no credential.
async fn register(app: &TestApp, body: &Value) -> TestResponse {
    let request = RequestBuilder::new(Method::POST, "/api/users/register")
        .json(body)
        .build();
    app.send(request).await
}

fn registration(token: &str, username: &str) -> Value {
    json!({"token": token, "username": username, "email": null, "password": PASSWORD})
}

fn expires_at(response: &TestResponse) -> DateTime<Utc> {
    let text = response.json()["expires_at"].as_str().unwrap().to_owned();
    DateTime::parse_from_rfc3339(&text).unwrap().into()
}

/// Checks that `at` is `lifetime` from now, give or take the test's own run time.
fn assert_about_from_now(at: DateTime<Utc>, lifetime: Duration) {
    let off_by = (at - (Utc::now() + lifetime)).num_seconds().abs();
    assert!(off_by <= 30, "{at} is not {lifetime} from now");
}

async fn an_invite_registers_one_account_with_its_role(app: TestApp) {
    app.user("root", Role::Admin).await;

    let invited = invite_as(&app, "root", "role=editor").await;

    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text());
    let token = invited.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|byte| byte.is_ascii_hexdigit()));
    assert_eq!(invited.json()["url"], format!("/register?token={token}"));
    assert_eq!(invited.header("cache-control"), Some("no-store"));
    assert_about_from_now(expires_at(&invited), Duration::seconds(600));

    let body = json!({
        "token": token, "username": "Eddie", "email": "eddie@example.com", "password": PASSWORD,
    });
    let registered = register(&app, &body).await;

    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text()
    );
    let user = registered.json();
    assert_eq!(user["username"], "eddie");
    assert_eq!(user["email"], "eddie@example.com");
    assert_eq!(user["role"], "editor");
    let me = "/api/users/me";
    assert_eq!(
        basic_status(&app, me, "eddie", PASSWORD).await,
        StatusCode::OK
    );

    let again = register(&app, &registration(&token, "another")).await;
    assert_detail_mentions(&again, StatusCode::BAD_REQUEST, "invite");
    assert_eq!(user_count(&app).await, 2);
}

async fn the_link_points_at_the_public_url_when_one_is_configured(backend: Backend) {
    let app = TestApp::configured(backend, |config| {
        config.base_url = Some("https://romm.example.com/".to_owned());
    })
    .await;
    app.user("root", Role::Admin).await;

    let invited = invite_as(&app, "root", "role=viewer").await;

    let token = invited.json()["token"].as_str().unwrap().to_owned();
    let url = format!("https://romm.example.com/register?token={token}");
    assert_eq!(invited.json()["url"], url);
}

async fn the_lifetime_comes_from_the_query_or_the_configuration(app: TestApp) {
    app.user("root", Role::Admin).await;

    let short = invite_as(&app, "root", "role=viewer&expiration=60").await;
    let week = invite_as(&app, "root", "role=viewer&expiration=604800").await;
    let default = invite_as(&app, "root", "role=viewer&expiration=").await;

    assert_about_from_now(expires_at(&short), Duration::seconds(60));
    assert_about_from_now(expires_at(&week), Duration::days(7));
    assert_about_from_now(expires_at(&default), Duration::seconds(600));
}

async fn bad_roles_and_lifetimes_are_422_and_store_nothing(app: TestApp) {
    app.user("root", Role::Admin).await;

    let cases = [
        ("", "role"),
        ("role=owner", "role"),
        ("role=viewer&expiration=59", "expiration"),
        ("role=viewer&expiration=2592001", "expiration"),
        ("role=viewer&expiration=soon", "expiration"),
        ("role=viewer&expiration=-5", "expiration"),
    ];
    for (query, field) in cases {
        let response = invite_as(&app, "root", query).await;

        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let body = response.json();
        let named = body["errors"].as_array().into_iter().flatten();
        let fields: Vec<&Value> = named.map(|error| &error["field"]).collect();
        let mentions_field = fields.contains(&&json!(field)) || response.detail().contains(field);
        assert!(mentions_field, "{query}: {body}");
    }
    let both = invite_as(&app, "root", "role=owner&expiration=1")
        .await
        .json();
    assert_eq!(both["errors"].as_array().unwrap().len(), 2, "{both}");
    assert_eq!(app.count_rows("invites").await, 0);
}

async fn only_users_writers_invite(app: TestApp) {
    app.user("root", Role::Admin).await;
    app.user("eddie", Role::Editor).await;
    app.user("vera", Role::Viewer).await;

    for caller in ["eddie", "vera"] {
        let response = invite_as(&app, caller, "role=viewer").await;

        assert_eq!(response.status, StatusCode::FORBIDDEN, "{caller}");
        assert_eq!(response.json()["missing_scopes"], json!(["users.write"]));
    }
    let anonymous = RequestBuilder::new(Method::POST, "/api/users/invite-link?role=viewer");
    assert_eq!(
        app.send(anonymous.build()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.count_rows("invites").await, 0);

    let admin_invite = invite_token(&app, "root", "admin").await;
    let registered = register(&app, &registration(&admin_invite, "second-admin")).await;
    assert_eq!(registered.json()["role"], "admin");
}

async fn expired_invites_register_nobody(app: TestApp) {
    app.user("root", Role::Admin).await;
    let token = invite_token(&app, "root", "viewer").await;
    let past = Utc::now() - Duration::seconds(1);
    app.set_time_of_every_row("invites", "expires_at", past)
        .await;

    let response = register(&app, &registration(&token, "late")).await;

    assert_detail_mentions(&response, StatusCode::BAD_REQUEST, "expired");
    assert_eq!(user_count(&app).await, 1);
}

async fn unknown_and_malformed_invites_are_400_before_any_field_is_checked(app: TestApp) {
    app.user("root", Role::Admin).await;
    let unknown = "0".repeat(64);
    let client_token = format!("rmm_{}", "a".repeat(64));

    for token in ["", "not-a-token", unknown.as_str(), client_token.as_str()] {
        let body = json!({"token": token, "username": "x", "password": "short"});
        let response = register(&app, &body).await;

        assert_detail_mentions(&response, StatusCode::BAD_REQUEST, "invite");
    }
    let no_token = json!({"username": "someone", "password": PASSWORD});
    let missing_token = register(&app, &no_token).await;
    assert_eq!(missing_token.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(user_count(&app).await, 1);
}

async fn a_taken_username_or_a_bad_field_leaves_the_invite_usable(app: TestApp) {
    app.user("root", Role::Admin).await;
    let token = invite_token(&app, "root", "viewer").await;

    let taken = register(&app, &registration(&token, "ROOT")).await;
    let bad_name = register(&app, &registration(&token, "no spaces")).await;
    let body = json!({"token": token, "username": "newbie", "password": "short"});
    let short_password = register(&app, &body).await;
    let body = json!({"token": token, "username": "newbie", "email": "nope", "password": PASSWORD});
    let bad_email = register(&app, &body).await;

    assert_detail_mentions(&taken, StatusCode::CONFLICT, "username");
    for response in [bad_name, short_password, bad_email] {
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            response.text()
        );
    }
    assert_eq!(user_count(&app).await, 1);
    let registered = register(&app, &registration(&token, "newbie")).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text()
    );
}

async fn concurrent_registrations_with_one_invite_succeed_exactly_once(app: TestApp) {
    app.user("root", Role::Admin).await;
    let token = invite_token(&app, "root", "viewer").await;

    let bodies: Vec<Value> = (0..8)
        .map(|n| registration(&token, &format!("racer-{n}")))
        .collect();
    let responses = join_all(bodies.iter().map(|body| register(&app, body))).await;

    let created = responses
        .iter()
        .filter(|response| response.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1);
    for response in responses.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_detail_mentions(response, StatusCode::BAD_REQUEST, "invite");
    }
    assert_eq!(user_count(&app).await, 2);
}

async fn an_invite_dies_with_its_inviters_authority(app: TestApp) {
    app.user("root", Role::Admin).await;
    let demoted = app.user("demoted", Role::Admin).await;
    let deleted = app.user("deleted", Role::Admin).await;
    let from_demoted = invite_token(&app, "demoted", "viewer").await;
    let from_deleted = invite_token(&app, "deleted", "viewer").await;

    let demotion = update_as(&app, "root", demoted.id, &json!({"role": "viewer"})).await;
    assert_eq!(demotion.status, StatusCode::OK, "{}", demotion.text());
    assert_eq!(
        delete_as(&app, "root", deleted.id).await.status,
        StatusCode::NO_CONTENT
    );

    for token in [from_demoted, from_deleted] {
        let response = register(&app, &registration(&token, "orphan")).await;

        assert_detail_mentions(&response, StatusCode::BAD_REQUEST, "invite");
    }
    assert_eq!(user_count(&app).await, 2);
}
