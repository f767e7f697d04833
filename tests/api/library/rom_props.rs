//! `/api/roms/{id}/props`: each user's own data about a ROM, replaced whole and validated.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::{create_platform, create_rom, delete, expect, get, invalid_fields, put, users};
use crate::harness::{RequestBuilder, TestApp};
use crate::on_both_backends;

on_both_backends!(
    each_user_sees_only_their_own_props,
    saving_props_replaces_every_field,
    invalid_props_are_422_for_each_field_and_keep_the_old_ones,
    props_of_an_unknown_rom_are_404,
    deleting_a_rom_deletes_its_props,
);

fn defaults() -> serde_json::Value {
    json!({"rating": 0, "status": null, "notes": null, "last_played": null})
}

async fn each_user_sees_only_their_own_props(app: TestApp) {
    users(&app).await;
    let platform = create_platform(&app, "snes").await;
    let rom = create_rom(&app, platform, "zelda.sfc").await;
    let uri = format!("/api/roms/{rom}/props");
    let viewer_props = json!({
        "rating": 9,
        "status": "finished",
        "notes": "Master sword at last",
        "last_played": "2024-05-01T20:30:00+02:00",
    });

    let saved = put(&app, &uri, "viewer", viewer_props).await;

    let saved = expect(saved, StatusCode::OK).json();
    assert_eq!(saved["rating"], 9);
    assert_eq!(saved["status"], "finished");
    assert_eq!(saved["notes"], "Master sword at last");
    let last_played: DateTime<Utc> = saved["last_played"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        last_played,
        "2024-05-01T18:30:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(get(&app, &uri, "viewer").await.json(), saved);
    assert_eq!(get(&app, &uri, "editor").await.json(), defaults());

    let editor_props = json!({"rating": 2, "status": "retired"});
    expect(
        put(&app, &uri, "editor", editor_props).await,
        StatusCode::OK,
    );
    assert_eq!(get(&app, &uri, "viewer").await.json(), saved);
    assert_eq!(get(&app, &uri, "editor").await.json()["rating"], 2);
    let anonymous = app.send(RequestBuilder::get(&uri).build()).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

async fn saving_props_replaces_every_field(app: TestApp) {
    users(&app).await;
    let platform = create_platform(&app, "gb").await;
    let rom = create_rom(&app, platform, "tetris.gb").await;
    let uri = format!("/api/roms/{rom}/props");
    let first = json!({"rating": 5, "notes": "Line piece!", "status": "incomplete"});
    expect(put(&app, &uri, "viewer", first).await, StatusCode::OK);

    let second = put(&app, &uri, "viewer", json!({"status": "completed_100"})).await;

    let expected = json!({
        "rating": 0,
        "status": "completed_100",
        "notes": null,
        "last_played": null,
    });
    assert_eq!(expect(second, StatusCode::OK).json(), expected);
    assert_eq!(get(&app, &uri, "viewer").await.json(), expected);
    let cleared = put(&app, &uri, "viewer", json!({})).await;
    assert_eq!(expect(cleared, StatusCode::OK).json(), defaults());
}

async fn invalid_props_are_422_for_each_field_and_keep_the_old_ones(app: TestApp) {
    users(&app).await;
    let platform = create_platform(&app, "nes").await;
    let rom = create_rom(&app, platform, "metroid.nes").await;
    let uri = format!("/api/roms/{rom}/props");
    let kept = json!({"rating": 7, "status": "never_playing", "notes": "too hard"});
    let kept = expect(put(&app, &uri, "viewer", kept).await, StatusCode::OK).json();
    let cases = [
        (json!({"rating": 11}), vec!["rating"]),
        (json!({"rating": -1}), vec!["rating"]),
        (json!({"status": "playing"}), vec!["status"]),
        (json!({"notes": "n".repeat(10_001)}), vec!["notes"]),
        (
            json!({"rating": 100, "status": "Finished", "notes": "n".repeat(10_001)}),
            vec!["rating", "status", "notes"],
        ),
    ];

    for (body, fields) in cases {
        let response = put(&app, &uri, "viewer", body.clone()).await;
        assert_eq!(invalid_fields(&response), fields, "{body:.80}");
    }
    let not_a_date = put(&app, &uri, "viewer", json!({"last_played": "yesterday"})).await;
    assert_eq!(not_a_date.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        not_a_date.detail().contains("last_played"),
        "{}",
        not_a_date.detail()
    );
    let status_error = put(&app, &uri, "viewer", json!({"status": "playing"})).await;
    assert_eq!(
        status_error.detail(),
        "status: must be one of incomplete, finished, completed_100, retired, never_playing"
    );

    assert_eq!(get(&app, &uri, "viewer").await.json(), kept);
}

async fn props_of_an_unknown_rom_are_404(app: TestApp) {
    users(&app).await;

    let read = get(&app, "/api/roms/777/props", "viewer").await;
    let written = put(&app, "/api/roms/777/props", "viewer", json!({"rating": 1})).await;

    for response in [read, written] {
        let response = expect(response, StatusCode::NOT_FOUND);
        assert_eq!(response.detail(), "ROM not found");
    }
}

async fn deleting_a_rom_deletes_its_props(app: TestApp) {
    users(&app).await;
    let platform = create_platform(&app, "gg").await;
    let rom = create_rom(&app, platform, "sonic.gg").await;
    let uri = format!("/api/roms/{rom}/props");
    expect(
        put(&app, &uri, "viewer", json!({"rating": 4})).await,
        StatusCode::OK,
    );

    expect(
        delete(&app, &format!("/api/roms/{rom}"), "editor").await,
        StatusCode::NO_CONTENT,
    );

    let gone = expect(get(&app, &uri, "viewer").await, StatusCode::NOT_FOUND);
    assert_eq!(gone.detail(), "ROM not found");
}
