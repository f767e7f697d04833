//! `/api/collections`: owners change their own, others read only public ones, a private
//! one of someone else does not exist for them, and refused writes change nothing.

use axum::http::StatusCode;
use romm_server::auth::scopes::Role;
use serde_json::{json, Value};

use super::{
    create_platform, create_rom, delete, expect, get, ids, invalid_fields, post, put, users,
};
use crate::harness::{Backend, RequestBuilder, TestApp};
use crate::on_both_backends;

on_both_backends!(
    collections_are_created_read_replaced_and_deleted_by_their_owner,
    another_users_private_collection_is_404_to_read_and_to_change,
    another_users_public_collection_is_readable_but_changes_are_403,
    lists_show_your_own_collections_and_the_public_ones,
    unknown_or_repeated_roms_are_422_and_nothing_is_written,
    a_users_collections_are_deleted_with_the_user;
    configured: kiosk_callers_see_only_public_collections,
);

/// Creates a collection as `username` and returns it.
async fn create_collection(app: &TestApp, username: &str, name: &str, is_public: bool) -> Value {
    let body = json!({"name": name, "is_public": is_public});
    let response = post(app, "/api/collections", username, body).await;
    expect(response, StatusCode::CREATED).json()
}

fn uri_of(collection: &Value) -> String {
    format!("/api/collections/{}", collection["id"])
}

async fn collections_are_created_read_replaced_and_deleted_by_their_owner(app: TestApp) {
    users(&app).await;
    let viewer = app
        .store()
        .find_user_by_username("viewer")
        .await
        .unwrap()
        .unwrap();
    let platform = create_platform(&app, "n64").await;
    let first = create_rom(&app, platform, "a.z64").await;
    let second = create_rom(&app, platform, "b.z64").await;
    let body = json!({
        "name": "Couch co-op",
        "description": "Four controllers",
        "rom_ids": [second, first],
    });

    let created = post(&app, "/api/collections", "viewer", body).await;

    let created = expect(created, StatusCode::CREATED).json();
    let uri = uri_of(&created);
    assert_eq!(
        created,
        json!({
            "id": created["id"],
            "name": "Couch co-op",
            "description": "Four controllers",
            "is_public": false,
            "user_id": viewer.id,
            "rom_ids": [second, first],
        })
    );
    assert_eq!(get(&app, &uri, "viewer").await.json(), created);

    let body = json!({"name": "Solo", "is_public": true, "rom_ids": [first]});
    let replaced = expect(put(&app, &uri, "viewer", body).await, StatusCode::OK).json();
    assert_eq!(replaced["name"], "Solo");
    assert_eq!(replaced["description"], "");
    assert_eq!(replaced["is_public"], true);
    assert_eq!(replaced["rom_ids"], json!([first]));
    assert_eq!(get(&app, &uri, "viewer").await.json(), replaced);

    expect(delete(&app, &uri, "viewer").await, StatusCode::NO_CONTENT);
    let gone = expect(get(&app, &uri, "viewer").await, StatusCode::NOT_FOUND);
    assert_eq!(gone.detail(), "Collection not found");
    expect(
        get(&app, &format!("/api/roms/{first}"), "viewer").await,
        StatusCode::OK,
    );
}

async fn another_users_private_collection_is_404_to_read_and_to_change(app: TestApp) {
    users(&app).await;
    let private = create_collection(&app, "viewer", "Secret stash", false).await;
    let uri = uri_of(&private);

    let read = get(&app, &uri, "editor").await;
    let changed = put(&app, &uri, "editor", json!({"name": "Mine now"})).await;
    let invalid_change = put(&app, &uri, "editor", json!({"name": ""})).await;
    let deleted = delete(&app, &uri, "editor").await;
    let by_admin = get(&app, &uri, "admin").await;

    for response in [read, changed, invalid_change, deleted, by_admin] {
        let response = expect(response, StatusCode::NOT_FOUND);
        assert_eq!(response.detail(), "Collection not found");
    }
    assert_eq!(get(&app, &uri, "viewer").await.json(), private);
}

async fn another_users_public_collection_is_readable_but_changes_are_403(app: TestApp) {
    users(&app).await;
    let public = create_collection(&app, "viewer", "Speedruns", true).await;
    let uri = uri_of(&public);

    let read = get(&app, &uri, "editor").await;
    let changed = put(&app, &uri, "editor", json!({"name": "Mine now"})).await;
    let deleted = delete(&app, &uri, "admin").await;

    assert_eq!(expect(read, StatusCode::OK).json(), public);
    for response in [changed, deleted] {
        let response = expect(response, StatusCode::FORBIDDEN);
        assert_eq!(
            response.detail(),
            "This collection belongs to another user; only its owner can change it"
        );
        assert!(response.json().get("missing_scopes").is_none());
    }
    assert_eq!(get(&app, &uri, "viewer").await.json(), public);
}

async fn lists_show_your_own_collections_and_the_public_ones(app: TestApp) {
    users(&app).await;
    let viewer_private = create_collection(&app, "viewer", "V private", false).await;
    let viewer_public = create_collection(&app, "viewer", "V public", true).await;
    let editor_private = create_collection(&app, "editor", "E private", false).await;
    let editor_public = create_collection(&app, "editor", "E public", true).await;
    let id = |collection: &Value| collection["id"].as_i64().unwrap();

    let as_viewer = get(&app, "/api/collections", "viewer").await;
    let as_editor = get(&app, "/api/collections", "editor").await;
    let as_admin = get(&app, "/api/collections", "admin").await;
    let paged = get(&app, "/api/collections?limit=1&offset=1", "viewer").await;
    let bad_paging = get(&app, "/api/collections?limit=-3", "viewer").await;

    let viewer_sees = [&viewer_private, &viewer_public, &editor_public].map(id);
    assert_eq!(ids(&as_viewer), viewer_sees);
    assert_eq!(
        ids(&as_editor),
        [&viewer_public, &editor_private, &editor_public].map(id)
    );
    assert_eq!(ids(&as_admin), [&viewer_public, &editor_public].map(id));
    assert_eq!(ids(&paged), [id(&viewer_public)]);
    assert_eq!(invalid_fields(&bad_paging), ["limit"]);
}

async fn unknown_or_repeated_roms_are_422_and_nothing_is_written(app: TestApp) {
    users(&app).await;
    let platform = create_platform(&app, "gba").await;
    let rom = create_rom(&app, platform, "pokemon.gba").await;
    let body = json!({"name": "Kept", "description": "as it was", "rom_ids": [rom]});
    let kept = expect(
        post(&app, "/api/collections", "viewer", body).await,
        StatusCode::CREATED,
    );
    let kept = kept.json();
    let uri = uri_of(&kept);

    let unknown = json!({"name": "New", "rom_ids": [rom, 31337]});
    let created = post(&app, "/api/collections", "viewer", unknown.clone()).await;
    let updated = put(&app, &uri, "viewer", unknown).await;
    let repeated = json!({"name": "Twice", "rom_ids": [rom, rom]});
    let repeated = put(&app, &uri, "viewer", repeated).await;
    let nameless = post(&app, "/api/collections", "viewer", json!({"name": " "})).await;
    let long = json!({"name": "Long", "description": "d".repeat(2_001)});
    let long = post(&app, "/api/collections", "viewer", long).await;

    for response in [&created, &updated] {
        assert_eq!(invalid_fields(response), ["rom_ids"]);
        assert_eq!(response.detail(), "rom_ids: no ROM has id 31337");
    }
    assert_eq!(invalid_fields(&repeated), ["rom_ids"]);
    assert_eq!(
        repeated.detail(),
        format!("rom_ids: lists ROM {rom} more than once")
    );
    assert_eq!(invalid_fields(&nameless), ["name"]);
    assert_eq!(invalid_fields(&long), ["description"]);
    let listed = get(&app, "/api/collections", "viewer").await;
    assert_eq!(listed.json(), json!([kept]));
}

async fn a_users_collections_are_deleted_with_the_user(app: TestApp) {
    users(&app).await;
    let viewer = app
        .store()
        .find_user_by_username("viewer")
        .await
        .unwrap()
        .unwrap();
    let public = create_collection(&app, "viewer", "Shared", true).await;
    expect(get(&app, &uri_of(&public), "editor").await, StatusCode::OK);

    let deleted = delete(&app, &format!("/api/users/{}", viewer.id), "admin").await;

    expect(deleted, StatusCode::NO_CONTENT);
    expect(
        get(&app, &uri_of(&public), "editor").await,
        StatusCode::NOT_FOUND,
    );
    assert_eq!(
        get(&app, "/api/collections", "editor").await.json(),
        json!([])
    );
}

async fn kiosk_callers_see_only_public_collections(backend: Backend) {
    let app = TestApp::configured(backend, |config| config.kiosk_mode = true).await;
    app.user("owner", Role::Viewer).await;
    let private = create_collection(&app, "owner", "Private", false).await;
    let public = create_collection(&app, "owner", "Public", true).await;

    let listed = app
        .send(RequestBuilder::get("/api/collections").build())
        .await;
    let read_public = app
        .send(RequestBuilder::get(&uri_of(&public)).build())
        .await;
    let read_private = app
        .send(RequestBuilder::get(&uri_of(&private)).build())
        .await;
    let write = RequestBuilder::new(axum::http::Method::POST, "/api/collections")
        .json(&json!({"name": "Anonymous"}));
    let write = app.send(write.build()).await;

    assert_eq!(expect(listed, StatusCode::OK).json(), json!([public]));
    assert_eq!(expect(read_public, StatusCode::OK).json(), public);
    expect(read_private, StatusCode::NOT_FOUND);
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    assert_eq!(write.json()["missing_scopes"], json!(["collections.write"]));
}
