//! `/api/roms`: CRUD, the page shape and filter, field rules, unknown platforms and roles.

use axum::http::StatusCode;
use romm_server::store::{RomFields, Saved};
use serde_json::json;

use super::{
    assert_lacks, create_platform, create_rom, delete, expect, get, ids, invalid_fields, post, put,
    users,
};
use crate::harness::TestApp;
use crate::on_both_backends;

on_both_backends!(
    roms_are_created_read_replaced_and_deleted,
    roms_are_listed_in_pages_of_fifty_by_default_and_filtered_by_platform,
    invalid_rom_fields_are_422_for_each_field_and_store_nothing,
    an_unknown_platform_is_422_and_changes_nothing,
    a_file_name_is_unique_within_its_platform_only,
    viewers_read_roms_and_editors_and_admins_change_them,
);

async fn roms_are_created_read_replaced_and_deleted(app: TestApp) {
    users(&app).await;
    let n64 = create_platform(&app, "n64").await;
    let other = create_platform(&app, "n64dd").await;
    let body = json!({
        "platform_id": n64,
        "name": "Super Mario 64",
        "file_name": "Super Mario 64 (USA).z64",
        "file_size": 8_388_608,
    });

    let created = expect(
        post(&app, "/api/roms", "editor", body).await,
        StatusCode::CREATED,
    );

    let created = created.json();
    let id = created["id"].as_i64().unwrap();
    let expected = json!({
        "id": id,
        "platform_id": n64,
        "name": "Super Mario 64",
        "file_name": "Super Mario 64 (USA).z64",
        "file_size": 8_388_608,
    });
    assert_eq!(created, expected);
    let uri = format!("/api/roms/{id}");
    assert_eq!(get(&app, &uri, "viewer").await.json(), expected);

    let body = json!({
        "platform_id": other,
        "name": "Super Mario 64 (Disk)",
        "file_name": "mario.ndd",
        "file_size": 0,
    });
    let replaced = expect(put(&app, &uri, "editor", body).await, StatusCode::OK).json();
    assert_eq!(replaced["platform_id"], other);
    assert_eq!(replaced["file_size"], 0);
    assert_eq!(get(&app, &uri, "viewer").await.json(), replaced);

    expect(delete(&app, &uri, "editor").await, StatusCode::NO_CONTENT);
    let gone = expect(get(&app, &uri, "viewer").await, StatusCode::NOT_FOUND);
    assert_eq!(gone.detail(), "ROM not found");
    expect(delete(&app, &uri, "editor").await, StatusCode::NOT_FOUND);
}

async fn roms_are_listed_in_pages_of_fifty_by_default_and_filtered_by_platform(app: TestApp) {
    users(&app).await;
    let many = create_platform(&app, "many").await;
    let few = create_platform(&app, "few").await;
    for index in 0..55 {
        let fields = RomFields {
            platform_id: many,
            name: format!("Game {index}"),
            file_name: format!("game-{index}.bin"),
            file_size: index,
        };
        let saved = app.store().create_rom(fields).await.unwrap();
        assert!(matches!(saved, Saved::Record(_)));
    }
    let lonely = create_rom(&app, few, "lonely.bin").await;

    let default_page = expect(get(&app, "/api/roms", "viewer").await, StatusCode::OK);
    let filtered = get(&app, &format!("/api/roms?platform_id={few}"), "viewer").await;
    let second_page = get(
        &app,
        &format!("/api/roms?platform_id={many}&limit=10&offset=50"),
        "viewer",
    )
    .await;
    let unknown = get(&app, "/api/roms?platform_id=999999", "viewer").await;
    let bad_filter = get(&app, "/api/roms?platform_id=n64&limit=0", "viewer").await;

    let body = default_page.json();
    assert_eq!(body["items"].as_array().unwrap().len(), 50);
    assert_eq!(body["total"], 56);
    assert_eq!(body["limit"], 50);
    assert_eq!(body["offset"], 0);
    assert_eq!(ids(&filtered), [lonely]);
    assert_eq!(filtered.json()["total"], 1);
    let second_page = second_page.json();
    assert_eq!(second_page["items"].as_array().unwrap().len(), 5);
    assert_eq!(second_page["items"][0]["file_name"], "game-50.bin");
    assert_eq!(second_page["total"], 55);
    assert_eq!(
        unknown.json(),
        json!({"items": [], "total": 0, "limit": 50, "offset": 0})
    );
    assert_eq!(invalid_fields(&bad_filter), ["platform_id"]);
}

async fn invalid_rom_fields_are_422_for_each_field_and_store_nothing(app: TestApp) {
    users(&app).await;
    let platform = create_platform(&app, "gba").await;
    let rom = |name: &str, file_name: &str, file_size: i64| {
        json!({
            "platform_id": platform,
            "name": name,
            "file_name": file_name,
            "file_size": file_size,
        })
    };
    let cases = [
        (rom("", "a.gba", 1), vec!["name"]),
        (rom("A", "roms/a.gba", 1), vec!["file_name"]),
        (rom("A", "..", 1), vec!["file_name"]),
        (rom("A", &"f".repeat(256), 1), vec!["file_name"]),
        (rom("A", "a.gba", -1), vec!["file_size"]),
        (rom(" ", "", -5), vec!["name", "file_name", "file_size"]),
    ];

    for (body, fields) in cases {
        let response = post(&app, "/api/roms", "editor", body.clone()).await;
        assert_eq!(invalid_fields(&response), fields, "{body}");
    }
    let valid = post(&app, "/api/roms", "editor", rom("A", "a.gba", 1)).await;
    let id = expect(valid, StatusCode::CREATED).json()["id"].clone();
    let mut body = rom("B", "b.gba", 1);
    body["file_size"] = json!("big");
    let refused_update = put(&app, &format!("/api/roms/{id}"), "editor", body).await;
    assert_eq!(refused_update.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused_update.detail().contains("file_size"),
        "{}",
        refused_update.detail()
    );

    let listed = get(&app, "/api/roms", "viewer").await.json();
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["file_name"], "a.gba");
}

async fn an_unknown_platform_is_422_and_changes_nothing(app: TestApp) {
    users(&app).await;
    let platform = create_platform(&app, "nes").await;
    let rom = create_rom(&app, platform, "smb.nes").await;
    let body = json!({
        "platform_id": 424242,
        "name": "Moved",
        "file_name": "moved.nes",
        "file_size": 1,
    });

    let created = post(&app, "/api/roms", "editor", body.clone()).await;
    let moved = put(&app, &format!("/api/roms/{rom}"), "editor", body).await;

    for response in [&created, &moved] {
        assert_eq!(invalid_fields(response), ["platform_id"]);
        assert_eq!(response.detail(), "platform_id: no platform has id 424242");
    }
    let listed = get(&app, "/api/roms", "viewer").await.json();
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["platform_id"], platform);
    assert_eq!(listed["items"][0]["file_name"], "smb.nes");
}

async fn a_file_name_is_unique_within_its_platform_only(app: TestApp) {
    users(&app).await;
    let first = create_platform(&app, "md").await;
    let second = create_platform(&app, "sms").await;
    create_rom(&app, first, "sonic.bin").await;
    let other = create_rom(&app, first, "other.bin").await;

    let elsewhere = create_rom(&app, second, "sonic.bin").await;
    let body = json!({
        "platform_id": first,
        "name": "Sonic",
        "file_name": "sonic.bin",
        "file_size": 1,
    });
    let duplicate = post(&app, "/api/roms", "editor", body.clone()).await;
    let renamed = put(&app, &format!("/api/roms/{other}"), "editor", body).await;

    assert!(elsewhere > other);
    for response in [duplicate, renamed] {
        let response = expect(response, StatusCode::CONFLICT);
        assert_eq!(
            response.detail(),
            "The platform already has a ROM with this file_name"
        );
    }
    let other = get(&app, &format!("/api/roms/{other}"), "viewer")
        .await
        .json();
    assert_eq!(other["file_name"], "other.bin");
}

async fn viewers_read_roms_and_editors_and_admins_change_them(app: TestApp) {
    users(&app).await;
    let platform = create_platform(&app, "gb").await;
    let rom = create_rom(&app, platform, "tetris.gb").await;
    let uri = format!("/api/roms/{rom}");
    let body = json!({
        "platform_id": platform,
        "name": "Tetris",
        "file_name": "tetris-v1.1.gb",
        "file_size": 32768,
    });

    assert_lacks(
        &post(&app, "/api/roms", "viewer", body.clone()).await,
        "roms.write",
    );
    assert_lacks(&put(&app, &uri, "viewer", body.clone()).await, "roms.write");
    assert_lacks(&delete(&app, &uri, "viewer").await, "roms.write");
    assert_eq!(
        get(&app, &uri, "viewer").await.json()["file_name"],
        "tetris.gb"
    );
    expect(get(&app, "/api/roms", "viewer").await, StatusCode::OK);

    let replaced = expect(put(&app, &uri, "admin", body).await, StatusCode::OK);
    assert_eq!(replaced.json()["file_name"], "tetris-v1.1.gb");
    expect(delete(&app, &uri, "admin").await, StatusCode::NO_CONTENT);
}
