//! `/api/platforms`: CRUD, slug rules, paging, the role rules and the cascade rule.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{
    assert_lacks, create_firmware, create_platform, create_rom, delete, expect, get, ids,
    invalid_fields, post, put, users,
};
use crate::harness::{RequestBuilder, TestApp};
use crate::on_both_backends;

on_both_backends!(
    platforms_are_created_read_replaced_and_deleted,
    invalid_platform_fields_are_422_for_each_field_and_store_nothing,
    a_taken_slug_is_409_and_changes_nothing,
    viewers_read_platforms_and_editors_and_admins_change_them,
    scopes_are_checked_before_the_body,
    a_platform_with_roms_or_firmware_is_kept_unless_cascading,
    cascading_deletes_the_platforms_roms_firmware_and_their_traces,
    lists_are_paged_and_bad_paging_is_422,
);

async fn platforms_are_created_read_replaced_and_deleted(app: TestApp) {
    users(&app).await;

    let created = post(
        &app,
        "/api/platforms",
        "editor",
        json!({"slug": "n64", "name": "  Nintendo 64 "}),
    )
    .await;

    let created = expect(created, StatusCode::CREATED).json();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        created,
        json!({"id": id, "slug": "n64", "name": "Nintendo 64"})
    );
    let uri = format!("/api/platforms/{id}");
    assert_eq!(get(&app, &uri, "viewer").await.json(), created);
    let listed = expect(get(&app, "/api/platforms/", "viewer").await, StatusCode::OK);
    assert_eq!(listed.json(), json!([created]));

    let body = json!({"slug": "nintendo-64", "name": "Nintendo 64 (N64)"});
    let replaced = expect(put(&app, &uri, "editor", body).await, StatusCode::OK);
    let expected = json!({"id": id, "slug": "nintendo-64", "name": "Nintendo 64 (N64)"});
    assert_eq!(replaced.json(), expected);
    assert_eq!(get(&app, &uri, "viewer").await.json(), expected);

    expect(delete(&app, &uri, "editor").await, StatusCode::NO_CONTENT);
    let gone = expect(get(&app, &uri, "viewer").await, StatusCode::NOT_FOUND);
    assert_eq!(gone.detail(), "Platform not found");
    let again = expect(delete(&app, &uri, "editor").await, StatusCode::NOT_FOUND);
    assert_eq!(again.detail(), "Platform not found");
    let body = json!({"slug": "n64", "name": "Nintendo 64"});
    expect(put(&app, &uri, "editor", body).await, StatusCode::NOT_FOUND);
}

async fn invalid_platform_fields_are_422_for_each_field_and_store_nothing(app: TestApp) {
    users(&app).await;
    let long_slug = "a".repeat(65);
    let long_name = "n".repeat(256);
    let cases = [
        (json!({"slug": "N64", "name": "Nintendo 64"}), vec!["slug"]),
        (
            json!({"slug": "game boy", "name": "Game Boy"}),
            vec!["slug"],
        ),
        (json!({"slug": long_slug, "name": "Long"}), vec!["slug"]),
        (json!({"slug": "", "name": "   "}), vec!["slug", "name"]),
        (json!({"slug": "gb", "name": long_name}), vec!["name"]),
    ];

    for (body, fields) in cases {
        let response = post(&app, "/api/platforms", "editor", body.clone()).await;

        assert_eq!(invalid_fields(&response), fields, "{body}");
        assert!(
            response.detail().starts_with(fields[0]),
            "{}",
            response.detail()
        );
    }
    let missing_name = post(&app, "/api/platforms", "editor", json!({"slug": "gb"})).await;
    assert_eq!(missing_name.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        missing_name.detail().contains("name"),
        "{}",
        missing_name.detail()
    );
    assert_eq!(
        get(&app, "/api/platforms", "viewer").await.json(),
        json!([])
    );
}

async fn a_taken_slug_is_409_and_changes_nothing(app: TestApp) {
    users(&app).await;
    create_platform(&app, "snes").await;
    let gba = create_platform(&app, "gba").await;

    let duplicate = post(
        &app,
        "/api/platforms",
        "editor",
        json!({"slug": "snes", "name": "Another"}),
    )
    .await;
    let renamed = put(
        &app,
        &format!("/api/platforms/{gba}"),
        "editor",
        json!({"slug": "snes", "name": "Renamed"}),
    )
    .await;

    let duplicate = expect(duplicate, StatusCode::CONFLICT);
    assert_eq!(
        duplicate.detail(),
        "A platform with slug 'snes' already exists"
    );
    let renamed = expect(renamed, StatusCode::CONFLICT);
    assert_eq!(
        renamed.detail(),
        "A platform with slug 'snes' already exists"
    );
    let listed = get(&app, "/api/platforms", "viewer").await.json();
    let slugs: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|platform| platform["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["snes", "gba"]);
    assert_eq!(listed[1]["name"], "Platform gba");
}

async fn viewers_read_platforms_and_editors_and_admins_change_them(app: TestApp) {
    users(&app).await;
    let id = create_platform(&app, "psx").await;
    let uri = format!("/api/platforms/{id}");
    let body = json!({"slug": "ps1", "name": "PlayStation"});

    assert_lacks(
        &post(&app, "/api/platforms", "viewer", body.clone()).await,
        "platforms.write",
    );
    assert_lacks(
        &put(&app, &uri, "viewer", body.clone()).await,
        "platforms.write",
    );
    assert_lacks(&delete(&app, &uri, "viewer").await, "platforms.write");
    expect(get(&app, &uri, "viewer").await, StatusCode::OK);
    assert_eq!(get(&app, &uri, "viewer").await.json()["slug"], "psx");

    expect(put(&app, &uri, "admin", body).await, StatusCode::OK);
    let created = post(
        &app,
        "/api/platforms",
        "admin",
        json!({"slug": "ps2", "name": "PlayStation 2"}),
    )
    .await;
    expect(created, StatusCode::CREATED);
    expect(delete(&app, &uri, "admin").await, StatusCode::NO_CONTENT);
}

async fn scopes_are_checked_before_the_body(app: TestApp) {
    users(&app).await;
    let invalid = json!({"slug": "NOT VALID", "name": ""});

    let anonymous = RequestBuilder::new(Method::POST, "/api/platforms").json(&invalid);
    let anonymous = app.send(anonymous.build()).await;
    let viewer = post(&app, "/api/platforms", "viewer", invalid.clone()).await;
    let malformed = RequestBuilder::new(Method::POST, "/api/platforms")
        .basic("viewer", crate::harness::PASSWORD)
        .raw_body("application/json", "{not json");
    let malformed = app.send(malformed.build()).await;

    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.detail(), "Not authenticated");
    assert_lacks(&viewer, "platforms.write");
    assert_lacks(&malformed, "platforms.write");
}

async fn a_platform_with_roms_or_firmware_is_kept_unless_cascading(app: TestApp) {
    users(&app).await;
    let with_rom = create_platform(&app, "n64").await;
    let rom = create_rom(&app, with_rom, "mario.z64").await;
    let with_firmware = create_platform(&app, "psx").await;
    let firmware = create_firmware(&app, with_firmware, "scph1001.bin").await;

    let refused_rom = delete(&app, &format!("/api/platforms/{with_rom}"), "editor").await;
    let refused_firmware = delete(&app, &format!("/api/platforms/{with_firmware}"), "editor").await;
    let explicit_no = delete(
        &app,
        &format!("/api/platforms/{with_rom}?cascade=false"),
        "editor",
    )
    .await;
    let bad_flag = delete(
        &app,
        &format!("/api/platforms/{with_rom}?cascade=maybe"),
        "editor",
    )
    .await;

    let refused_rom = expect(refused_rom, StatusCode::CONFLICT);
    assert_eq!(
        refused_rom.detail(),
        "The platform still has 1 ROM(s) and 0 firmware file(s); delete them first or pass \
         cascade=true"
    );
    let refused_firmware = expect(refused_firmware, StatusCode::CONFLICT);
    assert!(refused_firmware
        .detail()
        .contains("0 ROM(s) and 1 firmware file(s)"));
    expect(explicit_no, StatusCode::CONFLICT);
    assert_eq!(invalid_fields(&bad_flag), ["cascade"]);
    for uri in [
        format!("/api/platforms/{with_rom}"),
        format!("/api/platforms/{with_firmware}"),
        format!("/api/roms/{rom}"),
        format!("/api/firmware/{firmware}"),
    ] {
        expect(get(&app, &uri, "viewer").await, StatusCode::OK);
    }
}

async fn cascading_deletes_the_platforms_roms_firmware_and_their_traces(app: TestApp) {
    users(&app).await;
    let doomed = create_platform(&app, "n64").await;
    let kept = create_platform(&app, "snes").await;
    let doomed_rom = create_rom(&app, doomed, "mario.z64").await;
    let kept_rom = create_rom(&app, kept, "zelda.sfc").await;
    let doomed_firmware = create_firmware(&app, doomed, "pif.rom").await;
    let kept_firmware = create_firmware(&app, kept, "dsp1.rom").await;
    let props = json!({"rating": 9});
    let props_uri = format!("/api/roms/{doomed_rom}/props");
    expect(put(&app, &props_uri, "viewer", props).await, StatusCode::OK);
    let body = json!({"name": "Both", "rom_ids": [doomed_rom, kept_rom]});
    let collection = expect(
        post(&app, "/api/collections", "viewer", body).await,
        StatusCode::CREATED,
    );
    let collection_uri = format!("/api/collections/{}", collection.json()["id"]);

    let deleted = delete(
        &app,
        &format!("/api/platforms/{doomed}?cascade=true"),
        "editor",
    )
    .await;

    expect(deleted, StatusCode::NO_CONTENT);
    for uri in [
        format!("/api/platforms/{doomed}"),
        format!("/api/roms/{doomed_rom}"),
        format!("/api/firmware/{doomed_firmware}"),
        props_uri,
    ] {
        expect(get(&app, &uri, "viewer").await, StatusCode::NOT_FOUND);
    }
    for uri in [
        format!("/api/platforms/{kept}"),
        format!("/api/roms/{kept_rom}"),
        format!("/api/firmware/{kept_firmware}"),
    ] {
        expect(get(&app, &uri, "viewer").await, StatusCode::OK);
    }
    let collection = get(&app, &collection_uri, "viewer").await.json();
    assert_eq!(collection["rom_ids"], json!([kept_rom]));
    let recreated = create_rom(&app, kept, "mario.z64").await;
    assert_ne!(recreated, doomed_rom);
}

async fn lists_are_paged_and_bad_paging_is_422(app: TestApp) {
    users(&app).await;
    let mut created = Vec::new();
    for slug in ["a", "b", "c", "d", "e"] {
        created.push(create_platform(&app, slug).await);
    }

    let first = get(&app, "/api/platforms?limit=2", "viewer").await;
    let middle = get(&app, "/api/platforms?limit=2&offset=2", "viewer").await;
    let last = get(&app, "/api/platforms?offset=4&limit=500", "viewer").await;
    let beyond = get(&app, "/api/platforms?offset=99", "viewer").await;

    assert_eq!(ids(&first), created[..2]);
    assert_eq!(ids(&middle), created[2..4]);
    assert_eq!(ids(&last), created[4..]);
    assert_eq!(ids(&beyond), Vec::<i64>::new());
    for (query, field, detail) in [
        (
            "limit=0",
            "limit",
            "limit: must be an integer from 1 to 500",
        ),
        (
            "limit=501",
            "limit",
            "limit: must be an integer from 1 to 500",
        ),
        (
            "limit=ten",
            "limit",
            "limit: must be an integer from 1 to 500",
        ),
        (
            "offset=-1",
            "offset",
            "offset: must be an integer of at least 0",
        ),
    ] {
        let response = get(&app, &format!("/api/platforms?{query}"), "viewer").await;
        assert_eq!(invalid_fields(&response), [field], "{query}");
        assert_eq!(response.detail(), detail);
    }
}
