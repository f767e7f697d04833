//! The library on PostgreSQL.
//!
//! Rules that span rows hold across instances through row locks: deleting a platform locks
//! it, so no ROM can be added to it meanwhile, and saving a collection locks the ROMs it
//! names, so none of them can vanish before the transaction commits.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{collections, PostgresStore};
use crate::store::library::{
    conflict_with, is_foreign_key_violation, platform_in_use, saved_on_platform, slug_taken,
    FIRMWARE_COLUMNS, FIRMWARE_FILE_NAME_TAKEN, PLATFORM_COLUMNS, ROM_COLUMNS, ROM_FILE_NAME_TAKEN,
};
use crate::store::{
    Collection, CollectionFields, Firmware, FirmwareFields, LibraryStore, Page, Platform,
    PlatformFields, PlatformRemoval, Rom, RomFields, RomPage, RomProps, Saved, StoreResult,
};

#[async_trait]
impl LibraryStore for PostgresStore {
    async fn create_platform(&self, fields: PlatformFields) -> StoreResult<Platform> {
        let sql = format!(
            "INSERT INTO platforms (slug, name) VALUES ($1, $2) RETURNING {PLATFORM_COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(&fields.slug)
            .bind(&fields.name)
            .fetch_one(&self.pool)
            .await
            .map_err(conflict_with(&slug_taken(&fields.slug)))
    }

    async fn list_platforms(&self, page: Page) -> StoreResult<Vec<Platform>> {
        let sql =
            format!("SELECT {PLATFORM_COLUMNS} FROM platforms ORDER BY id LIMIT $1 OFFSET $2");
        Ok(sqlx::query_as(&sql)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn find_platform(&self, id: i64) -> StoreResult<Option<Platform>> {
        let sql = format!("SELECT {PLATFORM_COLUMNS} FROM platforms WHERE id = $1");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn update_platform(
        &self,
        id: i64,
        fields: PlatformFields,
    ) -> StoreResult<Option<Platform>> {
        let sql = format!(
            "UPDATE platforms SET slug = $2, name = $3 WHERE id = $1 RETURNING {PLATFORM_COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(id)
            .bind(&fields.slug)
            .bind(&fields.name)
            .fetch_optional(&self.pool)
            .await
            .map_err(conflict_with(&slug_taken(&fields.slug)))
    }

    async fn delete_platform(
        &self,
        id: i64,
        cascade: bool,
    ) -> StoreResult<Option<PlatformRemoval>> {
        let mut transaction = self.pool.begin().await?;
        // The lock keeps ROMs and firmware from being added to the platform meanwhile.
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT id FROM platforms WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *transaction)
                .await?;
        if exists.is_none() {
            return Ok(None);
        }

        let (roms, firmware): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM roms WHERE platform_id = $1), \
                (SELECT COUNT(*) FROM firmware WHERE platform_id = $1)",
        )
        .bind(id)
        .fetch_one(&mut *transaction)
        .await?;
        if (roms > 0 || firmware > 0) && !cascade {
            return Err(platform_in_use(roms, firmware));
        }

        let deleted_firmware = sqlx::query("DELETE FROM firmware WHERE platform_id = $1")
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        let deleted_roms = sqlx::query("DELETE FROM roms WHERE platform_id = $1")
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        sqlx::query("DELETE FROM platforms WHERE id = $1")
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(Some(PlatformRemoval {
            roms: deleted_roms.rows_affected(),
            firmware: deleted_firmware.rows_affected(),
        }))
    }

    async fn create_rom(&self, fields: RomFields) -> StoreResult<Saved<Rom>> {
        let sql = format!(
            "INSERT INTO roms (platform_id, name, file_name, file_size) \
             VALUES ($1, $2, $3, $4) RETURNING {ROM_COLUMNS}"
        );
        let written = sqlx::query_as(&sql)
            .bind(fields.platform_id)
            .bind(&fields.name)
            .bind(&fields.file_name)
            .bind(fields.file_size)
            .fetch_optional(&self.pool)
            .await;
        saved_on_platform(written, fields.platform_id, ROM_FILE_NAME_TAKEN)
    }

    async fn list_roms(&self, platform_id: Option<i64>, page: Page) -> StoreResult<RomPage> {
        let sql = format!(
            "SELECT {ROM_COLUMNS} FROM roms WHERE ($1 IS NULL OR platform_id = $1) \
             ORDER BY id LIMIT $2 OFFSET $3"
        );
        let roms = sqlx::query_as(&sql)
            .bind(platform_id)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.pool)
            .await?;
        let total =
            sqlx::query_scalar("SELECT COUNT(*) FROM roms WHERE ($1 IS NULL OR platform_id = $1)")
                .bind(platform_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(RomPage { roms, total })
    }

    async fn find_rom(&self, id: i64) -> StoreResult<Option<Rom>> {
        let sql = format!("SELECT {ROM_COLUMNS} FROM roms WHERE id = $1");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn update_rom(&self, id: i64, fields: RomFields) -> StoreResult<Saved<Rom>> {
        let sql = format!(
            "UPDATE roms SET platform_id = $2, name = $3, file_name = $4, file_size = $5 \
             WHERE id = $1 RETURNING {ROM_COLUMNS}"
        );
        let written = sqlx::query_as(&sql)
            .bind(id)
            .bind(fields.platform_id)
            .bind(&fields.name)
            .bind(&fields.file_name)
            .bind(fields.file_size)
            .fetch_optional(&self.pool)
            .await;
        saved_on_platform(written, fields.platform_id, ROM_FILE_NAME_TAKEN)
    }

    async fn delete_rom(&self, id: i64) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM roms WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn find_rom_props(&self, rom_id: i64, user_id: i64) -> StoreResult<Option<RomProps>> {
        Ok(sqlx::query_as(
            "SELECT COALESCE(p.rating, 0) AS rating, p.status, p.notes, p.last_played \
             FROM roms r LEFT JOIN rom_user_props p ON p.rom_id = r.id AND p.user_id = $2 \
             WHERE r.id = $1",
        )
        .bind(rom_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn save_rom_props(
        &self,
        rom_id: i64,
        user_id: i64,
        props: RomProps,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<RomProps>> {
        let saved = sqlx::query_as(
            "INSERT INTO rom_user_props (rom_id, user_id, rating, status, notes, last_played, \
                updated_at) \
             SELECT id, $2, $3, $4, $5, $6, $7 FROM roms WHERE id = $1 \
             ON CONFLICT (rom_id, user_id) DO UPDATE SET rating = excluded.rating, \
                status = excluded.status, notes = excluded.notes, \
                last_played = excluded.last_played, updated_at = excluded.updated_at \
             RETURNING rating, status, notes, last_played",
        )
        .bind(rom_id)
        .bind(user_id)
        .bind(props.rating)
        .bind(&props.status)
        .bind(&props.notes)
        .bind(props.last_played)
        .bind(now)
        .fetch_optional(&self.pool)
        .await;
        match saved {
            Err(error) if is_foreign_key_violation(&error) => Ok(None),
            saved => Ok(saved?),
        }
    }

    async fn create_collection(
        &self,
        owner: i64,
        fields: CollectionFields,
    ) -> StoreResult<Saved<Collection>> {
        collections::create(&self.pool, owner, fields).await
    }

    async fn list_collections(
        &self,
        viewer: Option<i64>,
        page: Page,
    ) -> StoreResult<Vec<Collection>> {
        collections::list(&self.pool, viewer, page).await
    }

    async fn find_collection(
        &self,
        id: i64,
        viewer: Option<i64>,
    ) -> StoreResult<Option<Collection>> {
        collections::find(&self.pool, id, viewer).await
    }

    async fn update_collection(
        &self,
        id: i64,
        owner: i64,
        fields: CollectionFields,
    ) -> StoreResult<Saved<Collection>> {
        collections::update(&self.pool, id, owner, fields).await
    }

    async fn delete_collection(&self, id: i64, owner: i64) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM collections WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn create_firmware(&self, fields: FirmwareFields) -> StoreResult<Saved<Firmware>> {
        let sql = format!(
            "INSERT INTO firmware (platform_id, file_name, file_size, md5) \
             VALUES ($1, $2, $3, $4) RETURNING {FIRMWARE_COLUMNS}"
        );
        let written = sqlx::query_as(&sql)
            .bind(fields.platform_id)
            .bind(&fields.file_name)
            .bind(fields.file_size)
            .bind(&fields.md5)
            .fetch_optional(&self.pool)
            .await;
        saved_on_platform(written, fields.platform_id, FIRMWARE_FILE_NAME_TAKEN)
    }

    async fn list_firmware(
        &self,
        platform_id: Option<i64>,
        page: Page,
    ) -> StoreResult<Vec<Firmware>> {
        let sql = format!(
            "SELECT {FIRMWARE_COLUMNS} FROM firmware WHERE ($1 IS NULL OR platform_id = $1) \
             ORDER BY id LIMIT $2 OFFSET $3"
        );
        Ok(sqlx::query_as(&sql)
            .bind(platform_id)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn find_firmware(&self, id: i64) -> StoreResult<Option<Firmware>> {
        let sql = format!("SELECT {FIRMWARE_COLUMNS} FROM firmware WHERE id = $1");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn update_firmware(
        &self,
        id: i64,
        fields: FirmwareFields,
    ) -> StoreResult<Saved<Firmware>> {
        let sql = format!(
            "UPDATE firmware SET platform_id = $2, file_name = $3, file_size = $4, md5 = $5 \
             WHERE id = $1 RETURNING {FIRMWARE_COLUMNS}"
        );
        let written = sqlx::query_as(&sql)
            .bind(id)
            .bind(fields.platform_id)
            .bind(&fields.file_name)
            .bind(fields.file_size)
            .bind(&fields.md5)
            .fetch_optional(&self.pool)
            .await;
        saved_on_platform(written, fields.platform_id, FIRMWARE_FILE_NAME_TAKEN)
    }

    async fn delete_firmware(&self, id: i64) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM firmware WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }
}
