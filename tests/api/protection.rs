//! The protections every route shares: size limits, body and route errors in the JSON
//! envelope, security headers, CORS, kiosk mode, and credentials that can never cause a 5xx.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, Method, Request, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use romm_server::auth::scopes::Role;
use serde_json::json;

use crate::harness::{Backend, RequestBuilder, TestApp, TestResponse, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    oversized_json_body_is_413_and_creates_no_user,
    oversized_form_body_is_413_and_changes_nothing,
    oversized_multipart_body_is_413_and_changes_nothing,
    oversized_login_body_is_413_and_starts_no_session,
    body_of_exactly_one_mebibyte_is_not_refused_for_its_size,
    oversized_header_block_is_431,
    large_header_block_within_the_limit_is_served,
    unsupported_content_types_are_415,
    malformed_json_is_400,
    data_after_the_json_body_is_400_and_changes_nothing,
    fields_of_the_wrong_type_are_422,
    json_arrays_in_place_of_objects_are_422_and_create_nothing,
    authorization_is_checked_before_the_body,
    unknown_routes_are_a_json_404,
    wrong_method_is_a_json_405,
    every_response_carries_the_security_headers,
    credential_responses_are_not_cached,
    odd_authorization_values_never_authenticate_nor_fail,
    public_client_endpoints_ignore_odd_credentials,
    odd_basic_credentials_never_cause_a_server_error,
    odd_login_bodies_never_cause_a_server_error,
    odd_cookies_never_authenticate_nor_fail;
    configured: listed_origin_gets_cors_with_credentials,
    listed_origin_passes_preflight,
    unlisted_origin_gets_no_cors_headers,
    unconfigured_server_gives_no_origin_cors_headers,
    kiosk_mode_lets_anonymous_reads_past_the_scope_check,
    kiosk_mode_refuses_anonymous_writes_with_the_missing_scopes,
    kiosk_mode_does_not_excuse_a_broken_credential,
    kiosk_mode_keeps_signed_in_users_at_their_role,
    kiosk_mode_still_clears_a_stale_session_cookie,
    kiosk_mode_still_allows_first_run_setup,
);

/// The body cap of SPEC §9.
const ONE_MEBIBYTE: usize = 1024 * 1024;

/// The header cap of SPEC §9.
const SIXTEEN_KIBIBYTES: usize = 16 * 1024;

const LISTED_ORIGIN: &str = "https://romm.example";

const BASIC_CHALLENGE: &str = r#"Basic realm="romm""#;

/// `Authorization` values that no client should send but some do; none of them runs a
/// password hash, so none of them counts towards the failed-login limit.
fn odd_authorizations() -> Vec<String> {
    let invalid_utf8 = STANDARD.encode([0xff, 0xfe, b':', b'x']);
    vec![
        String::new(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer rmm_".to_owned(),
        "Bearer rmm_zz".to_owned(),
        format!("Bearer rmm_{}", "0".repeat(64)),
        format!("Bearer rmm_{}", "A".repeat(64)),
        format!("Bearer rmm_{}", "0".repeat(65)),
        "bEaReR eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.".to_owned(),
        "Bearer a.b.c".to_owned(),
        "Bearer a b c".to_owned(),
        format!("Bearer {}", "x".repeat(8 * 1024)),
        "Basic".to_owned(),
        "Basic ".to_owned(),
        "Basic Og==".to_owned(),
        "Basic Og== trailing".to_owned(),
        "Basic !!!not-base64!!!".to_owned(),
        "Basic ====".to_owned(),
        format!("Basic {}", STANDARD.encode("no-colon")),
        format!("Basic {}", STANDARD.encode(":password-without-user")),
        format!("Basic {invalid_utf8}"),
        format!("Basic {}", "A".repeat(8 * 1024)),
        "Digest x".to_owned(),
        "Negotiate".to_owned(),
        "\tBearer\tx".to_owned(),
        "garbage".to_owned(),
    ]
}

/// `Authorization` values that are not even valid UTF-8.
const NON_ASCII_AUTHORIZATIONS: &[&[u8]] = &[
    b"Bearer \xff\xfe",
    b"Bearer rmm_\xc3\xa9t\xc3\xa9",
    b"Basic \xc3\xa9:\xc3\xa9",
    b"\xe2\x82\xac",
];

/// `Cookie` headers that name no session this server issued.
fn odd_cookies() -> Vec<String> {
    vec![
        "romm_session=".to_owned(),
        "romm_session=garbage".to_owned(),
        "romm_session=\"quoted\"".to_owned(),
        "romm_session=a; romm_session=b".to_owned(),
        "romm_session".to_owned(),
        "=; =; ;;".to_owned(),
        "romm_csrftoken=zz".to_owned(),
        format!("romm_session={}", "f".repeat(8 * 1024)),
        format!(
            "romm_session={}; romm_csrftoken={}",
            "0".repeat(64),
            "0".repeat(96)
        ),
    ]
}

/// A request whose `name` header holds arbitrary bytes, which the builder refuses.
fn with_raw_header(mut request: Request<Body>, name: HeaderName, bytes: &[u8]) -> Request<Body> {
    let value = HeaderValue::from_bytes(bytes).expect("bytes a header may carry");
    request.headers_mut().insert(name, value);
    request
}

/// A peer address of its own for request `index`, so the failure limit per address never
/// counts one probe against another.
fn peer(index: usize) -> SocketAddr {
    let address = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, index as u16 + 1);
    SocketAddr::new(IpAddr::V6(address), 40000)
}

/// Routes that need a credential, with a path that exists for `user_id`.
fn protected_routes(user_id: i64) -> Vec<(Method, String)> {
    vec![
        (Method::GET, "/api/users/me".to_owned()),
        (Method::GET, "/api/users".to_owned()),
        (Method::POST, "/api/users".to_owned()),
        (Method::GET, format!("/api/users/{user_id}")),
        (Method::PUT, format!("/api/users/{user_id}")),
        (Method::DELETE, format!("/api/users/{user_id}")),
        (Method::GET, "/api/auth/sessions".to_owned()),
        (Method::DELETE, "/api/auth/sessions/unknown".to_owned()),
        (Method::GET, "/api/client-tokens".to_owned()),
        (Method::POST, "/api/client-tokens".to_owned()),
        (Method::GET, "/api/devices".to_owned()),
    ]
}

/// Routes anyone may call.
fn public_routes() -> Vec<(Method, String)> {
    vec![
        (Method::GET, "/api/heartbeat".to_owned()),
        (Method::POST, "/api/auth/login".to_owned()),
        (Method::POST, "/api/login".to_owned()),
        (Method::POST, "/api/auth/logout".to_owned()),
        (Method::POST, "/api/logout".to_owned()),
        (Method::POST, "/api/token".to_owned()),
        (Method::POST, "/api/auth/device/init".to_owned()),
        (Method::POST, "/api/auth/device/token".to_owned()),
        (Method::POST, "/api/client-tokens/exchange".to_owned()),
        (Method::GET, "/openapi.json".to_owned()),
        (Method::GET, "/api/no-such-route".to_owned()),
    ]
}

/// A value quoted for a failure message, cut short when long.
fn shorten(value: &str) -> String {
    let start: String = value.chars().take(64).collect();
    if start.len() == value.len() {
        format!("{value:?}")
    } else {
        format!("{start:?}... ({} bytes)", value.len())
    }
}

/// Whether a public route answered as it may: success or a client error, never a 5xx.
fn is_acceptable_public_answer(status: StatusCode) -> bool {
    status.is_success() || status.is_client_error()
}

/// A JSON object whose `username` is padded so that the whole body is `size` bytes.
fn padded_user_json(size: usize) -> String {
    let frame = json!({"username": "", "password": PASSWORD}).to_string();
    let padding = "a".repeat(size - frame.len());
    json!({"username": padding, "password": PASSWORD}).to_string()
}

/// A multipart body with one `email` field of `size` bytes.
fn multipart_email(boundary: &str, size: usize) -> String {
    format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\n{}\r\n\
         --{boundary}--\r\n",
        "a".repeat(size)
    )
}

fn assert_json_detail(response: &TestResponse, status: StatusCode) {
    assert_eq!(response.status, status, "{}", response.text());
    assert!(
        response
            .header("content-type")
            .is_some_and(|value| value.starts_with("application/json")),
        "{:?}",
        response.header("content-type")
    );
    assert!(!response.detail().is_empty());
}

async fn oversized_json_body_is_413_and_creates_no_user(app: TestApp) {
    let body = padded_user_json(ONE_MEBIBYTE + 1);

    let request = RequestBuilder::new(Method::POST, "/api/users")
        .raw_body("application/json", body)
        .build();
    let response = app.send(request).await;

    assert_json_detail(&response, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.store().count_users().await.unwrap(), 0);
}

async fn oversized_form_body_is_413_and_changes_nothing(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let email = format!("{}@example.com", "a".repeat(ONE_MEBIBYTE));

    let request = RequestBuilder::new(Method::PUT, &format!("/api/users/{}", alice.id))
        .basic("alice", PASSWORD)
        .form(&[("email", &email)])
        .build();
    let response = app.send(request).await;

    assert_json_detail(&response, StatusCode::PAYLOAD_TOO_LARGE);
    let stored = app.store().find_user(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.email, None);
}

async fn oversized_multipart_body_is_413_and_changes_nothing(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let boundary = "limit-boundary";

    let request = RequestBuilder::new(Method::PUT, &format!("/api/users/{}", alice.id))
        .basic("alice", PASSWORD)
        .raw_body(
            &format!("multipart/form-data; boundary={boundary}"),
            multipart_email(boundary, ONE_MEBIBYTE + 1),
        )
        .build();
    let response = app.send(request).await;

    assert_json_detail(&response, StatusCode::PAYLOAD_TOO_LARGE);
    let stored = app.store().find_user(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.email, None);
}

async fn oversized_login_body_is_413_and_starts_no_session(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let body =
        json!({"username": "alice", "password": PASSWORD, "padding": "a".repeat(ONE_MEBIBYTE)});

    let request = RequestBuilder::new(Method::POST, "/api/auth/login")
        .json(&body)
        .build();
    let response = app.send(request).await;

    assert_json_detail(&response, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(response.cookie("romm_session").is_none());
    let sessions = app
        .store()
        .list_sessions(alice.id, chrono::Utc::now())
        .await
        .unwrap();
    assert!(sessions.is_empty());
}

async fn body_of_exactly_one_mebibyte_is_not_refused_for_its_size(app: TestApp) {
    let body = padded_user_json(ONE_MEBIBYTE);
    assert_eq!(body.len(), ONE_MEBIBYTE);

    let request = RequestBuilder::new(Method::POST, "/api/users")
        .raw_body("application/json", body)
        .build();
    let response = app.send(request).await;

    // The username is far too long, which only a handler that read the body can say.
    assert_json_detail(&response, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.store().count_users().await.unwrap(), 0);
}

async fn oversized_header_block_is_431(app: TestApp) {
    let one_big_header = RequestBuilder::get("/api/heartbeat")
        .header("x-filler", &"a".repeat(SIXTEEN_KIBIBYTES + 1))
        .build();
    let mut many_headers = RequestBuilder::get("/api/users/me");
    for _ in 0..20 {
        many_headers = many_headers.header("x-filler", &"b".repeat(1024));
    }
    let big_authorization = RequestBuilder::get("/api/users/me")
        .authorization(&format!("Bearer {}", "c".repeat(SIXTEEN_KIBIBYTES)))
        .build();
    let big_cookie = RequestBuilder::get("/api/heartbeat")
        .header(
            "cookie",
            &format!("romm_session={}", "d".repeat(SIXTEEN_KIBIBYTES)),
        )
        .build();

    let requests = [
        ("one big header", one_big_header),
        ("many headers", many_headers.build()),
        ("a big Authorization header", big_authorization),
        ("a big cookie", big_cookie),
    ];

    for (label, request) in requests {
        let response = app.send(request).await;

        assert_eq!(
            response.status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{label}"
        );
        assert_json_detail(&response, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
}

async fn large_header_block_within_the_limit_is_served(app: TestApp) {
    let request = RequestBuilder::get("/api/heartbeat")
        .header("x-filler", &"a".repeat(12 * 1024))
        .build();

    let response = app.send(request).await;

    assert_eq!(response.status, StatusCode::OK);
}

async fn unsupported_content_types_are_415(app: TestApp) {
    let setup_as_text = RequestBuilder::new(Method::POST, "/api/users")
        .raw_body(
            "text/plain",
            r#"{"username": "admin", "password": "long enough"}"#,
        )
        .build();
    let setup_as_xml = RequestBuilder::new(Method::POST, "/api/users")
        .raw_body("application/xml", "<user><username>admin</username></user>")
        .build();
    let setup_without_type = RequestBuilder::new(Method::POST, "/api/users").build();
    let login_as_text = RequestBuilder::new(Method::POST, "/api/login")
        .raw_body("text/plain", "username=alice&password=whatever")
        .build();

    for request in [
        setup_as_text,
        setup_as_xml,
        setup_without_type,
        login_as_text,
    ] {
        let response = app.send(request).await;

        assert_json_detail(&response, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    assert_eq!(app.store().count_users().await.unwrap(), 0);
}

async fn malformed_json_is_400(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let update = RequestBuilder::new(Method::PUT, &format!("/api/users/{}", alice.id))
        .basic("alice", PASSWORD)
        .raw_body("application/json", r#"{"email": "a@example.com""#)
        .build();
    let login = RequestBuilder::new(Method::POST, "/api/auth/login")
        .raw_body("application/json", "{username: alice}")
        .build();

    for request in [update, login] {
        let response = app.send(request).await;

        assert_json_detail(&response, StatusCode::BAD_REQUEST);
    }
    let stored = app.store().find_user(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.email, None);
}

async fn data_after_the_json_body_is_400_and_changes_nothing(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let two_objects = r#"{"email": "a@example.com"} {"email": "b@example.com"}"#;
    let update = RequestBuilder::new(Method::PUT, &format!("/api/users/{}", alice.id))
        .basic("alice", PASSWORD)
        .raw_body("application/json", two_objects)
        .build();

    let response = app.send(update).await;

    assert_json_detail(&response, StatusCode::BAD_REQUEST);
    let stored = app.store().find_user(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.email, None);
}

async fn fields_of_the_wrong_type_are_422(app: TestApp) {
    let admin = app.user("admin", Role::Admin).await;
    let uri = format!("/api/users/{}", admin.id);
    let number_as_username = RequestBuilder::new(Method::POST, "/api/users")
        .basic("admin", PASSWORD)
        .json(&json!({"username": 42, "password": PASSWORD}))
        .build();
    let unknown_role = RequestBuilder::new(Method::POST, "/api/users")
        .basic("admin", PASSWORD)
        .json(&json!({"username": "bob", "password": PASSWORD, "role": "overlord"}))
        .build();
    let string_as_boolean = RequestBuilder::new(Method::PUT, &uri)
        .basic("admin", PASSWORD)
        .json(&json!({"enabled": "sometimes"}))
        .build();
    let word_as_id = RequestBuilder::get("/api/users/not-a-number")
        .basic("admin", PASSWORD)
        .build();

    for request in [
        number_as_username,
        unknown_role,
        string_as_boolean,
        word_as_id,
    ] {
        let uri = request.uri().clone();
        let response = app.send(request).await;

        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}");
        assert!(!response.detail().is_empty());
    }
    assert_eq!(app.store().count_users().await.unwrap(), 1);
}

async fn json_arrays_in_place_of_objects_are_422_and_create_nothing(app: TestApp) {
    app.user("admin", Role::Admin).await;
    // Each array lists the fields in their declared order, which serde alone would accept.
    let user_as_array = RequestBuilder::new(Method::POST, "/api/users")
        .basic("admin", PASSWORD)
        .raw_body("application/json", r#"["bob", "a long password"]"#)
        .build();
    let platform_as_array = RequestBuilder::new(Method::POST, "/api/platforms")
        .basic("admin", PASSWORD)
        .raw_body("application/json", r#"  ["n64", "Nintendo 64"]"#)
        .build();

    for request in [user_as_array, platform_as_array] {
        let uri = request.uri().clone();
        let response = app.send(request).await;

        assert_json_detail(&response, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            response.detail(),
            "The body must be a JSON object, not an array",
            "{uri}"
        );
    }
    assert_eq!(app.store().count_users().await.unwrap(), 1);
    let platforms = RequestBuilder::get("/api/platforms").basic("admin", PASSWORD);
    assert_eq!(app.send(platforms.build()).await.json(), json!([]));
}

async fn authorization_is_checked_before_the_body(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let malformed_create = RequestBuilder::new(Method::POST, "/api/users")
        .raw_body("application/json", "{")
        .build();
    let mistyped_update = RequestBuilder::new(Method::PUT, &format!("/api/users/{}", alice.id))
        .json(&json!({"enabled": "sometimes"}))
        .build();
    let word_as_id = RequestBuilder::get("/api/users/not-a-number").build();
    let xml_update = RequestBuilder::new(Method::PUT, "/api/users/not-a-number")
        .raw_body("application/xml", "<user/>")
        .build();

    for request in [malformed_create, mistyped_update, word_as_id, xml_update] {
        let uri = request.uri().clone();
        let response = app.send(request).await;

        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(response.detail(), "Not authenticated");
    }
}

async fn unknown_routes_are_a_json_404(app: TestApp) {
    let requests = [
        RequestBuilder::get("/api/no-such-route").build(),
        RequestBuilder::new(Method::POST, "/nothing/here").build(),
        RequestBuilder::get("/api/users/1/no-such-thing").build(),
        RequestBuilder::get("/api/no-such-route")
            .authorization("Bearer stale")
            .build(),
    ];

    for request in requests {
        let uri = request.uri().clone();
        let response = app.send(request).await;

        assert_eq!(response.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(response.json(), json!({"detail": "Not Found"}), "{uri}");
    }
}

async fn wrong_method_is_a_json_405(app: TestApp) {
    let request = RequestBuilder::new(Method::DELETE, "/api/heartbeat").build();

    let response = app.send(request).await;

    assert_json_detail(&response, StatusCode::METHOD_NOT_ALLOWED);
}

async fn every_response_carries_the_security_headers(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let requests = [
        (StatusCode::OK, RequestBuilder::get("/api/heartbeat")),
        (
            StatusCode::UNAUTHORIZED,
            RequestBuilder::get("/api/users/me"),
        ),
        (
            StatusCode::FORBIDDEN,
            RequestBuilder::get("/api/users").basic("alice", PASSWORD),
        ),
        (
            StatusCode::NOT_FOUND,
            RequestBuilder::get("/api/no-such-route"),
        ),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            RequestBuilder::new(Method::DELETE, "/api/heartbeat"),
        ),
        (
            StatusCode::BAD_REQUEST,
            RequestBuilder::new(Method::POST, "/api/login").raw_body("application/json", "{"),
        ),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RequestBuilder::new(Method::POST, "/api/login").raw_body("text/xml", "<a/>"),
        ),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            RequestBuilder::new(Method::PUT, &format!("/api/users/{}", alice.id))
                .basic("alice", PASSWORD)
                .json(&json!({"enabled": "sometimes"})),
        ),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            RequestBuilder::new(Method::POST, "/api/login")
                .raw_body("application/json", "a".repeat(ONE_MEBIBYTE + 1)),
        ),
        (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            RequestBuilder::get("/api/heartbeat")
                .header("x-filler", &"a".repeat(SIXTEEN_KIBIBYTES + 1)),
        ),
        (
            StatusCode::OK,
            RequestBuilder::new(Method::POST, "/api/login").basic("alice", PASSWORD),
        ),
        (StatusCode::OK, RequestBuilder::get("/openapi.json")),
        (StatusCode::OK, RequestBuilder::get("/api/docs/")),
    ];

    for (status, builder) in requests {
        let request = builder.build();
        let route = format!("{} {}", request.method(), request.uri());
        let response = app.send(request).await;

        assert_eq!(response.status, status, "{route}");
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{route}"
        );
        assert_eq!(
            response.header("referrer-policy"),
            Some("no-referrer"),
            "{route}"
        );
    }
}

async fn credential_responses_are_not_cached(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let browser = app.login("alice").await;
    let password_grant = [("username", "alice"), ("password", PASSWORD)];
    let wrong_grant = [("username", "alice"), ("password", "wrong password")];
    let requests = [
        RequestBuilder::new(Method::POST, "/api/login").basic("alice", PASSWORD),
        RequestBuilder::new(Method::POST, "/api/auth/login")
            .json(&json!({"username": "alice", "password": PASSWORD})),
        RequestBuilder::new(Method::POST, "/api/auth/login").basic("alice", "wrong password"),
        RequestBuilder::new(Method::POST, "/api/token").form(&password_grant),
        RequestBuilder::new(Method::POST, "/api/token").form(&wrong_grant),
        RequestBuilder::new(Method::POST, "/api/auth/logout").browser(&browser),
    ];

    for builder in requests {
        let request = builder.build();
        let route = format!("{} {}", request.method(), request.uri());
        let response = app.send(request).await;

        assert_eq!(
            response.header("cache-control"),
            Some("no-store"),
            "{route} answered {}",
            response.status
        );
    }
}

async fn odd_authorization_values_never_authenticate_nor_fail(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let mut failures = Vec::new();

    for value in odd_authorizations() {
        let label = format!("Authorization {}", shorten(&value));
        for (method, uri) in protected_routes(alice.id) {
            let request = RequestBuilder::new(method.clone(), &uri).authorization(&value);
            let response = app.send(request.build()).await;
            if response.status != StatusCode::UNAUTHORIZED {
                failures.push(format!("{method} {uri} with {label}: {}", response.status));
            }
        }
        for (method, uri) in public_routes() {
            let request = RequestBuilder::new(method.clone(), &uri).authorization(&value);
            let response = app.send(request.build()).await;
            if !is_acceptable_public_answer(response.status) {
                failures.push(format!("{method} {uri} with {label}: {}", response.status));
            }
        }
    }

    for bytes in NON_ASCII_AUTHORIZATIONS {
        let label = format!("Authorization bytes {:?}", String::from_utf8_lossy(bytes));
        for (method, uri) in protected_routes(alice.id) {
            let request = RequestBuilder::new(method.clone(), &uri).build();
            let response = app
                .send(with_raw_header(request, header::AUTHORIZATION, bytes))
                .await;
            if response.status != StatusCode::UNAUTHORIZED {
                failures.push(format!("{method} {uri} with {label}: {}", response.status));
            }
        }
        for (method, uri) in public_routes() {
            let request = RequestBuilder::new(method.clone(), &uri).build();
            let response = app
                .send(with_raw_header(request, header::AUTHORIZATION, bytes))
                .await;
            if !is_acceptable_public_answer(response.status) {
                failures.push(format!("{method} {uri} with {label}: {}", response.status));
            }
        }
    }

    assert_eq!(failures, Vec::<String>::new());
}

/// The public requests that clients send with whatever `Authorization` they hold, each
/// with the answer it gets for reasons that have nothing to do with that header.
fn public_client_requests() -> Vec<(&'static str, RequestBuilder, StatusCode)> {
    let device_init = json!({
        "client_device_identifier": "protection-test",
        "name": "Protection test",
        "client": "protection-test",
        "requested_scopes": ["me.read"],
    });
    let grant = [("username", "alice"), ("password", PASSWORD)];
    vec![
        (
            "heartbeat",
            RequestBuilder::get("/api/heartbeat"),
            StatusCode::OK,
        ),
        (
            "password grant",
            RequestBuilder::new(Method::POST, "/api/token").form(&grant),
            StatusCode::OK,
        ),
        (
            "device init",
            RequestBuilder::new(Method::POST, "/api/auth/device/init").json(&device_init),
            StatusCode::CREATED,
        ),
        (
            "poll for an unknown device code",
            RequestBuilder::new(Method::POST, "/api/auth/device/token")
                .json(&json!({"device_code": "0".repeat(64)})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "exchange of an unknown pairing code",
            RequestBuilder::new(Method::POST, "/api/client-tokens/exchange")
                .json(&json!({"code": "ABCD-2345"})),
            StatusCode::NOT_FOUND,
        ),
        (
            "status of an unknown pairing code",
            RequestBuilder::get("/api/client-tokens/pair/ABCD2345/status"),
            StatusCode::NOT_FOUND,
        ),
    ]
}

async fn public_client_endpoints_ignore_odd_credentials(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let values = std::iter::once(None).chain(odd_authorizations().into_iter().map(Some));
    let mut failures = Vec::new();

    // Every request has its own address, so the per-address limits of the pairing and
    // device endpoints never answer in place of the credential check.
    let mut probe = 0;
    for value in values {
        for (name, request, expected) in public_client_requests() {
            probe += 1;
            let request = match &value {
                Some(value) => request.authorization(value),
                None => request,
            };
            let response = app.send_from(request.build(), peer(probe)).await;

            if response.status != expected {
                failures.push(format!(
                    "{name} with Authorization {}: {} instead of {expected}",
                    value.as_deref().map_or_else(|| "none".to_owned(), shorten),
                    response.status
                ));
            }
        }
    }

    assert_eq!(failures, Vec::<String>::new());
}

async fn odd_basic_credentials_never_cause_a_server_error(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let credentials = [
        "alice:".to_owned(),
        "ALICE:wrong password".to_owned(),
        format!("al\u{0}ice:{PASSWORD}"),
        "alice\u{0}:x".to_owned(),
        "ålïçé:pässwörd".to_owned(),
        "   :spaces".to_owned(),
        format!("{}:x", "u".repeat(4096)),
        "nobody:x:y:z".to_owned(),
    ];
    let routes = [(Method::GET, "/api/users/me"), (Method::POST, "/api/login")];
    let mut failures = Vec::new();

    // No username is tried often enough to be throttled, and each probe has its own address.
    let mut probe = 0;
    for credential in &credentials {
        let value = format!("Basic {}", STANDARD.encode(credential));
        for (method, uri) in routes.clone() {
            let request = RequestBuilder::new(method.clone(), uri).authorization(&value);
            probe += 1;
            let response = app.send_from(request.build(), peer(probe)).await;

            let challenge = response.header("www-authenticate");
            if response.status != StatusCode::UNAUTHORIZED || challenge != Some(BASIC_CHALLENGE) {
                failures.push(format!(
                    "{method} {uri} with Basic {}: {} {challenge:?} {}",
                    shorten(credential),
                    response.status,
                    response.text()
                ));
            }
        }
    }

    assert_eq!(failures, Vec::<String>::new());
}

async fn odd_login_bodies_never_cause_a_server_error(app: TestApp) {
    app.user("alice", Role::Viewer).await;
    let json_bodies = [
        json!({"username": "al\u{0}ice", "password": PASSWORD}),
        json!({"username": "alice", "password": "\u{0}"}),
        json!({"username": "u".repeat(4096), "password": "x"}),
        json!({"username": "ålïçé", "password": "pässwörd"}),
    ];
    let form_bodies = [
        "username=al%00ice&password=x",
        "username=%FF%FE&password=x",
        "username=alice&password=%00",
    ];
    let mut probes = Vec::new();
    for body in json_bodies {
        let request = RequestBuilder::new(Method::POST, "/api/auth/login").json(&body);
        let text = body.to_string();
        probes.push((format!("login with {}", shorten(&text)), request));
    }
    // The password grant reads the same credentials from a form.
    for uri in ["/api/auth/login", "/api/token"] {
        for body in form_bodies {
            let content_type = "application/x-www-form-urlencoded";
            let request = RequestBuilder::new(Method::POST, uri).raw_body(content_type, body);
            probes.push((format!("{uri} with {body}"), request));
        }
    }
    let mut failures = Vec::new();

    for (index, (label, request)) in probes.into_iter().enumerate() {
        let response = app.send_from(request.build(), peer(index)).await;

        if !response.status.is_client_error() || response.cookie("romm_session").is_some() {
            failures.push(format!("{label}: {} {}", response.status, response.text()));
        }
    }

    assert_eq!(failures, Vec::<String>::new());
}

async fn odd_cookies_never_authenticate_nor_fail(app: TestApp) {
    let alice = app.user("alice", Role::Viewer).await;
    let mut failures = Vec::new();

    for cookie in odd_cookies() {
        let label = format!("Cookie {}", shorten(&cookie));
        for (method, uri) in protected_routes(alice.id) {
            let request = RequestBuilder::new(method.clone(), &uri).header("cookie", &cookie);
            let response = app.send(request.build()).await;
            if response.status != StatusCode::UNAUTHORIZED {
                failures.push(format!("{method} {uri} with {label}: {}", response.status));
            }
        }
        for (method, uri) in public_routes() {
            let request = RequestBuilder::new(method.clone(), &uri).header("cookie", &cookie);
            let response = app.send(request.build()).await;
            if !is_acceptable_public_answer(response.status) {
                failures.push(format!("{method} {uri} with {label}: {}", response.status));
            }
        }
    }

    let request = RequestBuilder::get("/api/users/me").build();
    let request = with_raw_header(request, header::COOKIE, b"romm_session=\xff\xfe");
    let response = app.send(request).await;
    if response.status != StatusCode::UNAUTHORIZED {
        failures.push(format!("a non-UTF-8 session cookie: {}", response.status));
    }

    assert_eq!(failures, Vec::<String>::new());
}

async fn cors_app(backend: Backend) -> TestApp {
    TestApp::configured(backend, |config| {
        config.cors_allowed_origins =
            vec![LISTED_ORIGIN.to_owned(), "http://10.0.0.2:3000".to_owned()]
    })
    .await
}

fn preflight(origin: &str, uri: &str) -> Request<Body> {
    RequestBuilder::new(Method::OPTIONS, uri)
        .header("origin", origin)
        .header("access-control-request-method", "PUT")
        .header(
            "access-control-request-headers",
            "authorization, content-type, x-csrftoken",
        )
        .build()
}

/// The `Access-Control-*` headers of a response, as `name: value` lines.
fn cors_headers(response: &TestResponse) -> Vec<String> {
    response
        .headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("access-control-"))
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
        .collect()
}

async fn listed_origin_gets_cors_with_credentials(backend: Backend) {
    let app = cors_app(backend).await;

    for uri in ["/api/heartbeat", "/api/users/me"] {
        let request = RequestBuilder::get(uri)
            .header("origin", LISTED_ORIGIN)
            .build();
        let response = app.send(request).await;

        assert_eq!(
            response.header("access-control-allow-origin"),
            Some(LISTED_ORIGIN),
            "{uri}"
        );
        assert_eq!(
            response.header("access-control-allow-credentials"),
            Some("true")
        );
        let vary = response
            .header("vary")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(vary.contains("origin"), "Vary: {vary}");
    }
}

async fn listed_origin_passes_preflight(backend: Backend) {
    let app = cors_app(backend).await;

    let response = app.send(preflight(LISTED_ORIGIN, "/api/users/1")).await;

    assert!(response.status.is_success(), "{}", response.status);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some(LISTED_ORIGIN)
    );
    assert_eq!(
        response.header("access-control-allow-credentials"),
        Some("true")
    );
    let methods = response
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_ascii_uppercase();
    assert!(methods.contains("PUT"), "{methods}");
    let headers = response
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for needed in ["authorization", "content-type", "x-csrftoken"] {
        assert!(headers.contains(needed), "{needed} missing from {headers}");
    }
}

async fn unlisted_origin_gets_no_cors_headers(backend: Backend) {
    let app = cors_app(backend).await;
    let unlisted = [
        "https://evil.example",
        "https://romm.example.evil.example",
        "http://romm.example",
        "null",
    ];

    for origin in unlisted {
        let simple = RequestBuilder::get("/api/heartbeat").header("origin", origin);
        let simple = app.send(simple.build()).await;
        let preflighted = app.send(preflight(origin, "/api/users/1")).await;

        for (kind, response) in [("simple", simple), ("preflight", preflighted)] {
            let label = format!("{kind} request from {origin}");
            assert_eq!(
                response.header("access-control-allow-origin"),
                None,
                "{label}"
            );
            assert_eq!(cors_headers(&response), Vec::<String>::new(), "{label}");
        }
    }
}

async fn unconfigured_server_gives_no_origin_cors_headers(backend: Backend) {
    let app = TestApp::configured(backend, |_| {}).await;

    for origin in [LISTED_ORIGIN, "http://localhost:3000", "null"] {
        let simple = RequestBuilder::get("/api/heartbeat").header("origin", origin);
        let simple = app.send(simple.build()).await;
        let preflighted = app.send(preflight(origin, "/api/users/1")).await;

        for (kind, response) in [("simple", simple), ("preflight", preflighted)] {
            let label = format!("{kind} request from {origin}");
            assert_eq!(cors_headers(&response), Vec::<String>::new(), "{label}");
        }
    }
}

async fn kiosk_app(backend: Backend) -> TestApp {
    TestApp::configured(backend, |config| config.kiosk_mode = true).await
}

async fn kiosk_mode_lets_anonymous_reads_past_the_scope_check(backend: Backend) {
    let app = kiosk_app(backend).await;
    app.user("alice", Role::Viewer).await;

    for uri in ["/api/users/me", "/api/auth/sessions"] {
        let response = app.send(RequestBuilder::get(uri).build()).await;

        // me.read is a read scope, so the guard lets the kiosk through; the kiosk identity
        // has no user, so a route about "me" then answers as to an anonymous caller.
        assert_ne!(response.status, StatusCode::FORBIDDEN, "{uri}");
        assert!(response.json().get("missing_scopes").is_none(), "{uri}");
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{uri}");
    }
}

async fn kiosk_mode_refuses_anonymous_writes_with_the_missing_scopes(backend: Backend) {
    let app = kiosk_app(backend).await;
    let alice = app.user("alice", Role::Viewer).await;
    let uri = format!("/api/users/{}", alice.id);
    let cases = [
        (Method::PUT, uri.clone(), "me.write"),
        (Method::DELETE, uri.clone(), "users.write"),
        (Method::GET, "/api/users".to_owned(), "users.read"),
        (Method::POST, "/api/users".to_owned(), "users.write"),
        (
            Method::DELETE,
            "/api/auth/sessions/unknown".to_owned(),
            "me.write",
        ),
    ];

    for (method, uri, missing) in cases {
        let request = RequestBuilder::new(method.clone(), &uri)
            .json(&json!({"username": "mallory", "password": PASSWORD, "enabled": false}))
            .build();
        let response = app.send(request).await;

        assert_eq!(response.status, StatusCode::FORBIDDEN, "{method} {uri}");
        assert_eq!(
            response.json(),
            json!({"detail": "Forbidden", "missing_scopes": [missing]}),
            "{method} {uri}"
        );
    }
    assert_eq!(app.store().count_users().await.unwrap(), 1);
    let stored = app.store().find_user(alice.id).await.unwrap().unwrap();
    assert!(stored.enabled);
}

async fn kiosk_mode_does_not_excuse_a_broken_credential(backend: Backend) {
    let app = kiosk_app(backend).await;
    app.user("alice", Role::Viewer).await;

    let bearer = RequestBuilder::get("/api/users/me")
        .authorization("Bearer stale-token")
        .build();
    let response = app.send(bearer).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert!(response
        .header("www-authenticate")
        .is_some_and(|value| value.contains(r#"error="invalid_token""#)));

    let basic = RequestBuilder::get("/api/users/me")
        .basic("alice", "wrong password")
        .build();
    let response = app.send(basic).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(response.header("www-authenticate"), Some(BASIC_CHALLENGE));
}

async fn kiosk_mode_keeps_signed_in_users_at_their_role(backend: Backend) {
    let app = kiosk_app(backend).await;
    app.user("alice", Role::Viewer).await;

    let me = RequestBuilder::get("/api/users/me")
        .basic("alice", PASSWORD)
        .build();
    let response = app.send(me).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json()["username"], "alice");

    let others = RequestBuilder::get("/api/users")
        .basic("alice", PASSWORD)
        .build();
    let response = app.send(others).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert_eq!(response.json()["missing_scopes"], json!(["users.read"]));
}

async fn kiosk_mode_still_clears_a_stale_session_cookie(backend: Backend) {
    let app = kiosk_app(backend).await;

    let request = RequestBuilder::get("/api/heartbeat")
        .header("cookie", "romm_session=gone")
        .build();
    let response = app.send(request).await;

    assert_eq!(response.status, StatusCode::OK);
    assert!(
        response.clears_cookie("romm_session"),
        "{:?}",
        response.set_cookies()
    );
}

async fn kiosk_mode_still_allows_first_run_setup(backend: Backend) {
    let app = kiosk_app(backend).await;

    let setup = RequestBuilder::new(Method::POST, "/api/users")
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .build();
    let response = app.send(setup).await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_eq!(response.json()["role"], "admin");
}
