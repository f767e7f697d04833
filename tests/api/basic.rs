//! HTTP Basic on protected routes: parsing, the challenge, the verified-credential cache,
//! imported bcrypt hashes, and the limits on failed passwords.

use std::net::SocketAddr;

use axum::http::{header, HeaderValue, Method, StatusCode};
use base64::Engine;
use chrono::Utc;
use romm_server::auth::password::{QUEUE_FULL_DETAIL, WAITING_PER_CORE};
use romm_server::auth::scopes::Role;
use romm_server::store::UserUpdate;
use secrecy::SecretString;
use serde_json::json;

use crate::harness::{RequestBuilder, TestApp, TestResponse, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    valid_basic_credentials_pass_protected_routes,
    wrong_password_and_unknown_user_get_the_same_401_with_a_basic_challenge,
    malformed_basic_values_get_401_and_never_5xx,
    raw_non_ascii_bytes_after_basic_get_401_with_a_basic_challenge,
    the_scheme_name_is_case_insensitive,
    empty_basic_credentials_are_anonymous,
    repeated_valid_requests_are_answered_from_the_cache,
    password_change_drops_the_cached_credential,
    role_change_shrinks_the_cached_credential_at_once,
    disabling_drops_the_cached_credential,
    username_change_drops_the_cached_credential,
    bcrypt_hashes_from_romm_verify_and_become_argon2id,
    failures_from_one_address_are_limited_even_with_the_right_password,
    failures_for_one_username_are_limited_from_every_address,
    login_failures_count_toward_the_basic_limit,
    a_flood_past_the_hashing_queue_is_shed_with_429_and_never_5xx,
);

const ME: &str = "/api/users/me";

/// Failures allowed inside the window before attempts are refused (SPEC §9).
const FAILURE_LIMIT: u8 = 10;

/// A client address in the documentation range; each `host` is a different client.
fn client(host: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, host], 40_000))
}

fn basic_value(credentials: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    format!("Basic {encoded}")
}

async fn basic_from(
    app: &TestApp,
    peer: SocketAddr,
    uri: &str,
    username: &str,
    password: &str,
) -> TestResponse {
    let request = RequestBuilder::get(uri).basic(username, password).build();
    app.send_from(request, peer).await
}

async fn basic_status(app: &TestApp, uri: &str, username: &str, password: &str) -> StatusCode {
    let request = RequestBuilder::get(uri).basic(username, password).build();
    app.send(request).await.status
}

fn assert_basic_challenge(response: &TestResponse) {
    assert_eq!(
        response.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        response.text()
    );
    assert_eq!(
        response.header("www-authenticate"),
        Some(r#"Basic realm="romm""#)
    );
    assert!(!response.detail().is_empty());
}

fn assert_throttled(response: &TestResponse) {
    assert_eq!(
        response.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        response.text()
    );
    let retry_after: u64 = response
        .header("retry-after")
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!(
        (1..=300).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert!(!response.detail().is_empty());
}

async fn valid_basic_credentials_pass_protected_routes(app: TestApp) {
    let vera = app.user("vera", Role::Viewer).await;

    let read = app
        .send(RequestBuilder::get(ME).basic("Vera", PASSWORD).build())
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    assert_eq!(read.json()["username"], "vera");

    // Basic is not cookie authentication, so an unsafe request needs no CSRF token.
    let write = RequestBuilder::new(Method::PUT, &format!("/api/users/{}", vera.id))
        .basic("vera", PASSWORD)
        .json(&json!({"email": "vera@example.com"}))
        .build();
    let response = app.send(write).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
}

async fn wrong_password_and_unknown_user_get_the_same_401_with_a_basic_challenge(app: TestApp) {
    app.user("vera", Role::Viewer).await;

    let wrong = basic_from(&app, client(1), ME, "vera", "not the password").await;
    let unknown = basic_from(&app, client(1), ME, "nobody", "not the password").await;

    for response in [&wrong, &unknown] {
        assert_basic_challenge(response);
        assert_eq!(response.detail(), "Incorrect username or password");
    }
    assert_eq!(wrong.body, unknown.body);
}

async fn malformed_basic_values_get_401_and_never_5xx(app: TestApp) {
    app.user("vera", Role::Viewer).await;
    let values = [
        "Basic !!!not-base64!!!".to_owned(),
        basic_value(b"no-colon-here"),
        basic_value(&[0xff, 0xfe, b':', b'x']),
        basic_value(format!(":{PASSWORD}").as_bytes()),
        "Basic".to_owned(),
        "Basic ".to_owned(),
        "bAsIc %%%".to_owned(),
    ];

    for value in &values {
        let protected = RequestBuilder::get(ME).authorization(value).build();
        let response = app.send(protected).await;
        assert_basic_challenge(&response);

        let public = RequestBuilder::get("/api/heartbeat")
            .authorization(value)
            .build();
        assert_eq!(app.send(public).await.status, StatusCode::OK, "{value:?}");
    }
}

async fn raw_non_ascii_bytes_after_basic_get_401_with_a_basic_challenge(app: TestApp) {
    // The scheme is readable even when the rest of the header is not text, so this is still
    // a Basic attempt and gets the Basic challenge (SPEC §1).
    let raw = HeaderValue::from_bytes(b"Basic \xff\xfe\xfd").unwrap();
    let mut protected = RequestBuilder::get(ME).build();
    protected
        .headers_mut()
        .insert(header::AUTHORIZATION, raw.clone());
    let mut public = RequestBuilder::get("/api/heartbeat").build();
    public.headers_mut().insert(header::AUTHORIZATION, raw);

    let response = app.send(protected).await;

    assert_basic_challenge(&response);
    assert_eq!(app.send(public).await.status, StatusCode::OK);
}

async fn the_scheme_name_is_case_insensitive(app: TestApp) {
    app.user("vera", Role::Viewer).await;
    let encoded = basic_value(format!("vera:{PASSWORD}").as_bytes());
    let credentials = encoded.trim_start_matches("Basic ");

    for scheme in ["basic", "BASIC", "bAsIc"] {
        let value = format!("{scheme} {credentials}");
        let request = RequestBuilder::get(ME).authorization(&value).build();
        let response = app.send(request).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{scheme}: {}",
            response.text()
        );
    }

    let wrong = basic_value(b"vera:wrong password").replace("Basic", "bAsIc");
    let response = app
        .send(RequestBuilder::get(ME).authorization(&wrong).build())
        .await;
    assert_basic_challenge(&response);
}

async fn empty_basic_credentials_are_anonymous(app: TestApp) {
    // Playnite sends `Basic Og==` (":") when its credential settings are empty.
    let heartbeat = RequestBuilder::get("/api/heartbeat")
        .authorization("Basic Og==")
        .build();
    assert_eq!(app.send(heartbeat).await.status, StatusCode::OK);

    let setup = RequestBuilder::new(Method::POST, "/api/users")
        .authorization("Basic Og==")
        .json(&json!({"username": "root", "password": PASSWORD}))
        .build();
    let response = app.send(setup).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());

    let protected = RequestBuilder::get(ME).authorization("Basic Og==").build();
    let response = app.send(protected).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(response.detail(), "Not authenticated");
}

async fn repeated_valid_requests_are_answered_from_the_cache(app: TestApp) {
    let vera = app.user("vera", Role::Viewer).await;
    assert_eq!(
        basic_status(&app, ME, "vera", PASSWORD).await,
        StatusCode::OK
    );

    // Swap the stored hash for one of another password without a revoking change: from now
    // on only a remembered verification can accept the old password.
    let other = SecretString::from("a different password");
    let other_hash = app.state.passwords.hash(&other).await.unwrap();
    app.store()
        .record_login(vera.id, Utc::now(), Some(other_hash))
        .await
        .unwrap();

    for _ in 0..3 {
        assert_eq!(
            basic_status(&app, ME, "vera", PASSWORD).await,
            StatusCode::OK
        );
    }
    let fresh_login = RequestBuilder::new(Method::POST, "/api/login")
        .json(&json!({"username": "vera", "password": PASSWORD}))
        .build();
    assert_eq!(app.send(fresh_login).await.status, StatusCode::UNAUTHORIZED);
}

async fn password_change_drops_the_cached_credential(app: TestApp) {
    app.user("root", Role::Admin).await;
    let bob = app.user("bob", Role::Viewer).await;
    assert_eq!(
        basic_status(&app, ME, "bob", PASSWORD).await,
        StatusCode::OK
    );

    let change = RequestBuilder::new(Method::PUT, &format!("/api/users/{}", bob.id))
        .basic("root", PASSWORD)
        .json(&json!({"password": "a brand new passphrase"}))
        .build();
    assert_eq!(app.send(change).await.status, StatusCode::OK);

    let old = basic_from(&app, client(1), ME, "bob", PASSWORD).await;
    assert_basic_challenge(&old);
    assert_eq!(old.detail(), "Incorrect username or password");
    let new = basic_status(&app, ME, "bob", "a brand new passphrase").await;
    assert_eq!(new, StatusCode::OK);
}

async fn role_change_shrinks_the_cached_credential_at_once(app: TestApp) {
    app.user("root", Role::Admin).await;
    let bob = app.user("bob", Role::Admin).await;
    assert_eq!(
        basic_status(&app, "/api/users", "bob", PASSWORD).await,
        StatusCode::OK
    );

    let demote = RequestBuilder::new(Method::PUT, &format!("/api/users/{}", bob.id))
        .basic("root", PASSWORD)
        .json(&json!({"role": "viewer"}))
        .build();
    assert_eq!(app.send(demote).await.status, StatusCode::OK);

    let listing = basic_from(&app, client(1), "/api/users", "bob", PASSWORD).await;
    assert_eq!(listing.status, StatusCode::FORBIDDEN, "{}", listing.text());
    assert_eq!(listing.json()["missing_scopes"], json!(["users.read"]));
    let me = basic_from(&app, client(1), ME, "bob", PASSWORD).await;
    assert_eq!(me.json()["role"], "viewer");
}

async fn disabling_drops_the_cached_credential(app: TestApp) {
    app.user("root", Role::Admin).await;
    let bob = app.user("bob", Role::Editor).await;
    assert_eq!(
        basic_status(&app, ME, "bob", PASSWORD).await,
        StatusCode::OK
    );

    let disable = RequestBuilder::new(Method::PUT, &format!("/api/users/{}", bob.id))
        .basic("root", PASSWORD)
        .form(&[("enabled", "false")])
        .build();
    assert_eq!(app.send(disable).await.status, StatusCode::OK);

    let response = basic_from(&app, client(1), ME, "bob", PASSWORD).await;
    assert_basic_challenge(&response);
}

async fn username_change_drops_the_cached_credential(app: TestApp) {
    let vera = app.user("vera", Role::Viewer).await;
    assert_eq!(
        basic_status(&app, ME, "vera", PASSWORD).await,
        StatusCode::OK
    );

    let rename = RequestBuilder::new(Method::PUT, &format!("/api/users/{}", vera.id))
        .basic("vera", PASSWORD)
        .json(&json!({"username": "veronica"}))
        .build();
    assert_eq!(app.send(rename).await.status, StatusCode::OK);

    let old_name = basic_from(&app, client(1), ME, "vera", PASSWORD).await;
    assert_basic_challenge(&old_name);
    assert_eq!(
        basic_status(&app, ME, "veronica", PASSWORD).await,
        StatusCode::OK
    );
}

async fn bcrypt_hashes_from_romm_verify_and_become_argon2id(app: TestApp) {
    let vera = app.user("vera", Role::Viewer).await;
    let legacy = bcrypt::hash(PASSWORD, 4).unwrap();
    let import = UserUpdate {
        password_hash: Some(legacy.clone()),
        ..Default::default()
    };
    app.store()
        .update_user(vera.id, import, None)
        .await
        .unwrap();
    let stored_hash = || async {
        app.store()
            .find_user(vera.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash
    };

    let wrong = basic_from(&app, client(1), ME, "vera", "not the password").await;
    assert_basic_challenge(&wrong);
    assert_eq!(stored_hash().await, legacy);

    let right = basic_from(&app, client(1), ME, "vera", PASSWORD).await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.text());
    let upgraded = stored_hash().await;
    assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");

    // A body login skips the Basic cache, so it proves the new hash holds the same password.
    let login = RequestBuilder::new(Method::POST, "/api/login")
        .json(&json!({"username": "vera", "password": PASSWORD}))
        .build();
    assert_eq!(app.send(login).await.status, StatusCode::OK);
    assert_eq!(stored_hash().await, upgraded);
}

async fn failures_from_one_address_are_limited_even_with_the_right_password(app: TestApp) {
    app.user("vera", Role::Viewer).await;
    app.user("bob", Role::Viewer).await;
    let attacker = client(1);

    // Each failure names another unknown user, so only the address reaches the limit.
    for attempt in 0..FAILURE_LIMIT - 1 {
        let guess = format!("ghost{attempt}");
        let response = basic_from(&app, attacker, ME, &guess, "guess").await;
        assert_basic_challenge(&response);
    }
    let after_nine_failures = basic_from(&app, attacker, ME, "bob", PASSWORD).await;
    assert_eq!(after_nine_failures.status, StatusCode::OK);
    let tenth_failure = basic_from(&app, attacker, ME, "ghost-last", "guess").await;
    assert_basic_challenge(&tenth_failure);

    assert_throttled(&basic_from(&app, attacker, ME, "vera", PASSWORD).await);
    assert_throttled(&basic_from(&app, attacker, ME, "vera", "guess").await);
    let elsewhere = basic_from(&app, client(2), ME, "vera", PASSWORD).await;
    assert_eq!(elsewhere.status, StatusCode::OK, "{}", elsewhere.text());
}

async fn failures_for_one_username_are_limited_from_every_address(app: TestApp) {
    app.user("vera", Role::Viewer).await;
    app.user("bob", Role::Viewer).await;

    // One failure per address, so only the username reaches the limit.
    for host in 1..=FAILURE_LIMIT {
        let response = basic_from(&app, client(host), ME, "vera", "guess").await;
        assert_basic_challenge(&response);
    }

    let fresh_address = client(100);
    assert_throttled(&basic_from(&app, fresh_address, ME, "vera", PASSWORD).await);
    assert_throttled(&basic_from(&app, fresh_address, ME, "VERA", PASSWORD).await);
    let other_user = basic_from(&app, client(1), ME, "bob", PASSWORD).await;
    assert_eq!(other_user.status, StatusCode::OK, "{}", other_user.text());
}

async fn login_failures_count_toward_the_basic_limit(app: TestApp) {
    app.user("vera", Role::Viewer).await;
    let attacker = client(1);

    for attempt in 0..FAILURE_LIMIT / 2 {
        let login = RequestBuilder::new(Method::POST, "/api/login")
            .json(&json!({"username": format!("ghost{attempt}"), "password": "guess"}))
            .build();
        let response = app.send_from(login, attacker).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
    for attempt in 0..FAILURE_LIMIT / 2 {
        let guess = format!("phantom{attempt}");
        assert_basic_challenge(&basic_from(&app, attacker, ME, &guess, "guess").await);
    }

    assert_throttled(&basic_from(&app, attacker, ME, "vera", PASSWORD).await);
    let login = RequestBuilder::new(Method::POST, "/api/login")
        .basic("vera", PASSWORD)
        .build();
    assert_throttled(&app.send_from(login, attacker).await);
}

/// Password checks beyond what the hashing pool admits are refused at once (SPEC §9). Each
/// request comes from its own address with its own unknown username, so no failure limit
/// applies and every one of them would need a hash.
async fn a_flood_past_the_hashing_queue_is_shed_with_429_and_never_5xx(app: TestApp) {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let flood = cores * (WAITING_PER_CORE + 1) + 64;

    let requests = (0..flood).map(|index| {
        let [_, _, high, low] = u32::try_from(index).unwrap().to_be_bytes();
        let peer = SocketAddr::from(([10, 0, high, low], 40_000));
        let request = RequestBuilder::get(ME)
            .basic(&format!("nobody{index}"), "not the password")
            .build();
        app.send_from(request, peer)
    });
    let responses = futures::future::join_all(requests).await;

    let mut shed = 0;
    for response in &responses {
        if response.status == StatusCode::TOO_MANY_REQUESTS {
            assert_throttled(response);
            assert_eq!(response.detail(), QUEUE_FULL_DETAIL);
            shed += 1;
        } else {
            assert_basic_challenge(response);
        }
    }
    assert!(
        shed > 0,
        "none of {flood} concurrent password checks was shed"
    );
}
