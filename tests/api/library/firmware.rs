//! `/api/firmware`: CRUD, the MD5 rule, unknown platforms, the filter and roles.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{
    assert_lacks, create_firmware, create_platform, delete, expect, get, ids, invalid_fields, post,
    put, users,
};
use crate::harness::TestApp;
use crate::on_both_backends;

on_both_backends!(
    firmware_is_created_read_replaced_and_deleted,
    invalid_firmware_fields_are_422_for_each_field_and_store_nothing,
    a_file_name_is_unique_within_its_platform,
    firmware_is_listed_by_platform_in_pages,
    viewers_read_firmware_and_editors_and_admins_change_it,
);

const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

fn firmware(platform_id: i64, file_name: &str, md5: &str) -> Value {
    json!({"platform_id": platform_id, "file_name": file_name, "file_size": 524288, "md5": md5})
}

async fn firmware_is_created_read_replaced_and_deleted(app: TestApp) {
    users(&app).await;
    let psx = create_platform(&app, "psx").await;
    let ps2 = create_platform(&app, "ps2").await;
    let body = firmware(psx, "scph1001.bin", "924e392ed05558ffdb115408c263dccf");

    let created = expect(
        post(&app, "/api/firmware", "editor", body).await,
        StatusCode::CREATED,
    );

    let created = created.json();
    let uri = format!("/api/firmware/{}", created["id"]);
    assert_eq!(
        created,
        json!({
            "id": created["id"],
            "platform_id": psx,
            "file_name": "scph1001.bin",
            "file_size": 524288,
            "md5": "924e392ed05558ffdb115408c263dccf",
        })
    );
    assert_eq!(get(&app, &uri, "viewer").await.json(), created);

    let body = firmware(ps2, "scph10000.bin", EMPTY_MD5);
    let replaced = expect(put(&app, &uri, "editor", body).await, StatusCode::OK).json();
    assert_eq!(replaced["platform_id"], ps2);
    assert_eq!(replaced["md5"], EMPTY_MD5);
    assert_eq!(get(&app, &uri, "viewer").await.json(), replaced);

    expect(delete(&app, &uri, "editor").await, StatusCode::NO_CONTENT);
    let gone = expect(get(&app, &uri, "viewer").await, StatusCode::NOT_FOUND);
    assert_eq!(gone.detail(), "Firmware not found");
    expect(delete(&app, &uri, "editor").await, StatusCode::NOT_FOUND);
}

async fn invalid_firmware_fields_are_422_for_each_field_and_store_nothing(app: TestApp) {
    users(&app).await;
    let platform = create_platform(&app, "saturn").await;
    let kept = create_firmware(&app, platform, "sega_101.bin").await;
    let mut negative = firmware(platform, "b.bin", EMPTY_MD5);
    negative["file_size"] = json!(-1);
    let cases = [
        (
            firmware(platform, "b.bin", &EMPTY_MD5.to_uppercase()),
            vec!["md5"],
        ),
        (firmware(platform, "b.bin", &EMPTY_MD5[1..]), vec!["md5"]),
        (
            firmware(platform, "b.bin", &format!("{EMPTY_MD5}0")),
            vec!["md5"],
        ),
        (
            firmware(platform, "b.bin", "z41d8cd98f00b204e9800998ecf8427e"),
            vec!["md5"],
        ),
        (
            firmware(platform, "bios/b.bin", EMPTY_MD5),
            vec!["file_name"],
        ),
        (negative, vec!["file_size"]),
        (firmware(platform, "", "nope"), vec!["file_name", "md5"]),
    ];

    for (body, fields) in cases {
        let created = post(&app, "/api/firmware", "editor", body.clone()).await;
        let replaced = put(
            &app,
            &format!("/api/firmware/{kept}"),
            "editor",
            body.clone(),
        )
        .await;
        assert_eq!(invalid_fields(&created), fields, "{body}");
        assert_eq!(invalid_fields(&replaced), fields, "{body}");
    }
    let unknown = post(
        &app,
        "/api/firmware",
        "editor",
        firmware(5150, "c.bin", EMPTY_MD5),
    )
    .await;
    assert_eq!(unknown.detail(), "platform_id: no platform has id 5150");
    let md5_error = post(
        &app,
        "/api/firmware",
        "editor",
        firmware(platform, "d.bin", "x"),
    )
    .await;
    assert_eq!(
        md5_error.detail(),
        "md5: must be 32 lower-case hexadecimal digits"
    );

    let listed = get(&app, "/api/firmware", "viewer").await;
    assert_eq!(ids(&listed), [kept]);
    assert_eq!(listed.json()[0]["file_name"], "sega_101.bin");
}

async fn a_file_name_is_unique_within_its_platform(app: TestApp) {
    users(&app).await;
    let dreamcast = create_platform(&app, "dc").await;
    let naomi = create_platform(&app, "naomi").await;
    create_firmware(&app, dreamcast, "dc_boot.bin").await;

    let duplicate = post(
        &app,
        "/api/firmware",
        "editor",
        firmware(dreamcast, "dc_boot.bin", EMPTY_MD5),
    )
    .await;
    let elsewhere = post(
        &app,
        "/api/firmware",
        "editor",
        firmware(naomi, "dc_boot.bin", EMPTY_MD5),
    )
    .await;

    let duplicate = expect(duplicate, StatusCode::CONFLICT);
    assert_eq!(
        duplicate.detail(),
        "The platform already has a firmware file with this file_name"
    );
    expect(elsewhere, StatusCode::CREATED);
}

async fn firmware_is_listed_by_platform_in_pages(app: TestApp) {
    users(&app).await;
    let gba = create_platform(&app, "gba").await;
    let nds = create_platform(&app, "nds").await;
    let gba_bios = create_firmware(&app, gba, "gba_bios.bin").await;
    let arm7 = create_firmware(&app, nds, "bios7.bin").await;
    let arm9 = create_firmware(&app, nds, "bios9.bin").await;

    let everything = get(&app, "/api/firmware", "viewer").await;
    let of_nds = get(&app, &format!("/api/firmware?platform_id={nds}"), "viewer").await;
    let second_of_nds = get(
        &app,
        &format!("/api/firmware?platform_id={nds}&limit=1&offset=1"),
        "viewer",
    )
    .await;
    let bad_filter = get(&app, "/api/firmware?platform_id=0", "viewer").await;

    assert_eq!(ids(&everything), [gba_bios, arm7, arm9]);
    assert_eq!(ids(&of_nds), [arm7, arm9]);
    assert_eq!(ids(&second_of_nds), [arm9]);
    assert_eq!(invalid_fields(&bad_filter), ["platform_id"]);
}

async fn viewers_read_firmware_and_editors_and_admins_change_it(app: TestApp) {
    users(&app).await;
    let platform = create_platform(&app, "3do").await;
    let id = create_firmware(&app, platform, "panafz10.bin").await;
    let uri = format!("/api/firmware/{id}");
    let body = firmware(platform, "panafz1.bin", EMPTY_MD5);

    assert_lacks(
        &post(&app, "/api/firmware", "viewer", body.clone()).await,
        "firmware.write",
    );
    assert_lacks(
        &put(&app, &uri, "viewer", body.clone()).await,
        "firmware.write",
    );
    assert_lacks(&delete(&app, &uri, "viewer").await, "firmware.write");
    assert_eq!(
        get(&app, &uri, "viewer").await.json()["file_name"],
        "panafz10.bin"
    );

    expect(put(&app, &uri, "admin", body).await, StatusCode::OK);
    expect(delete(&app, &uri, "admin").await, StatusCode::NO_CONTENT);
}
