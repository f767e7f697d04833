//! Collections on PostgreSQL: a collection row and its ordered ROM entries, written
//! together.
//!
//! Saving a collection locks the ROMs it names, so none of them can be deleted before the
//! transaction commits.

use sqlx::{PgConnection, PgPool};

use crate::store::library::{attach_rom_ids, first_missing, COLLECTION_COLUMNS};
use crate::store::{Collection, CollectionFields, Page, Reference, Saved, StoreResult};

/// The first of `rom_ids` that names no ROM; the others stay locked against deletion.
async fn find_unknown_rom(
    connection: &mut PgConnection,
    rom_ids: &[i64],
) -> StoreResult<Option<i64>> {
    if rom_ids.is_empty() {
        return Ok(None);
    }
    let found: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM roms WHERE id = ANY($1) FOR KEY SHARE")
            .bind(rom_ids)
            .fetch_all(connection)
            .await?;
    Ok(first_missing(rom_ids, &found))
}

/// Stores the collection's ROMs in the order given; the caller removed the old ones.
async fn insert_collection_roms(
    connection: &mut PgConnection,
    collection_id: i64,
    rom_ids: &[i64],
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO collection_roms (collection_id, rom_id, position) \
         SELECT $1, rom_id, position \
         FROM unnest($2::BIGINT[]) WITH ORDINALITY AS listed (rom_id, position)",
    )
    .bind(collection_id)
    .bind(rom_ids)
    .execute(connection)
    .await?;
    Ok(())
}

/// Fills in the ROM ids of each collection.
async fn load_rom_ids(
    connection: &mut PgConnection,
    collections: &mut [Collection],
) -> StoreResult<()> {
    let ids: Vec<i64> = collections.iter().map(|collection| collection.id).collect();
    let entries: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT collection_id, rom_id FROM collection_roms \
         WHERE collection_id = ANY($1) ORDER BY collection_id, position",
    )
    .bind(&ids)
    .fetch_all(connection)
    .await?;
    attach_rom_ids(collections, &entries);
    Ok(())
}

/// Creates a collection owned by `owner` with its ROMs, in one transaction.
pub(super) async fn create(
    pool: &PgPool,
    owner: i64,
    fields: CollectionFields,
) -> StoreResult<Saved<Collection>> {
    let mut transaction = pool.begin().await?;
    if let Some(unknown) = find_unknown_rom(&mut transaction, &fields.rom_ids).await? {
        return Ok(Saved::UnknownReference(Reference::Rom(unknown)));
    }

    let sql = format!(
        "INSERT INTO collections (user_id, name, description, is_public) \
         VALUES ($1, $2, $3, $4) RETURNING {COLLECTION_COLUMNS}"
    );
    let mut collection: Collection = sqlx::query_as(&sql)
        .bind(owner)
        .bind(&fields.name)
        .bind(&fields.description)
        .bind(fields.is_public)
        .fetch_one(&mut *transaction)
        .await?;
    insert_collection_roms(&mut transaction, collection.id, &fields.rom_ids).await?;
    transaction.commit().await?;

    collection.rom_ids = fields.rom_ids;
    Ok(Saved::Record(collection))
}

/// The collections `viewer` may see: its own and the public ones.
pub(super) async fn list(
    pool: &PgPool,
    viewer: Option<i64>,
    page: Page,
) -> StoreResult<Vec<Collection>> {
    let sql = format!(
        "SELECT {COLLECTION_COLUMNS} FROM collections WHERE user_id = $1 OR is_public \
         ORDER BY id LIMIT $2 OFFSET $3"
    );
    let mut connection = pool.acquire().await?;
    let mut collections: Vec<Collection> = sqlx::query_as(&sql)
        .bind(viewer)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&mut *connection)
        .await?;
    load_rom_ids(&mut connection, &mut collections).await?;
    Ok(collections)
}

/// The collection, if `viewer` owns it or it is public.
pub(super) async fn find(
    pool: &PgPool,
    id: i64,
    viewer: Option<i64>,
) -> StoreResult<Option<Collection>> {
    let sql = format!(
        "SELECT {COLLECTION_COLUMNS} FROM collections \
         WHERE id = $1 AND (user_id = $2 OR is_public)"
    );
    let mut connection = pool.acquire().await?;
    let found: Option<Collection> = sqlx::query_as(&sql)
        .bind(id)
        .bind(viewer)
        .fetch_optional(&mut *connection)
        .await?;
    let Some(collection) = found else {
        return Ok(None);
    };
    let mut collections = [collection];
    load_rom_ids(&mut connection, &mut collections).await?;
    let [collection] = collections;
    Ok(Some(collection))
}

/// Replaces the fields and ROMs of `owner`'s collection, in one transaction.
pub(super) async fn update(
    pool: &PgPool,
    id: i64,
    owner: i64,
    fields: CollectionFields,
) -> StoreResult<Saved<Collection>> {
    let mut transaction = pool.begin().await?;
    let sql = format!(
        "UPDATE collections SET name = $3, description = $4, is_public = $5 \
         WHERE id = $1 AND user_id = $2 RETURNING {COLLECTION_COLUMNS}"
    );
    let updated: Option<Collection> = sqlx::query_as(&sql)
        .bind(id)
        .bind(owner)
        .bind(&fields.name)
        .bind(&fields.description)
        .bind(fields.is_public)
        .fetch_optional(&mut *transaction)
        .await?;
    let Some(mut collection) = updated else {
        return Ok(Saved::Missing);
    };
    if let Some(unknown) = find_unknown_rom(&mut transaction, &fields.rom_ids).await? {
        return Ok(Saved::UnknownReference(Reference::Rom(unknown)));
    }

    sqlx::query("DELETE FROM collection_roms WHERE collection_id = $1")
        .bind(id)
        .execute(&mut *transaction)
        .await?;
    insert_collection_roms(&mut transaction, id, &fields.rom_ids).await?;
    transaction.commit().await?;

    collection.rom_ids = fields.rom_ids;
    Ok(Saved::Record(collection))
}
