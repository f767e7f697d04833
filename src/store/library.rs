//! The library's records and the storage operations on them, implemented by both backends.
//!
//! Platforms own ROMs and firmware files; ROMs carry per-user properties and belong to
//! collections. A write that names another record reports a missing one as
//! [`Saved::UnknownReference`], so the API can blame the field rather than the URL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{StoreError, StoreResult};

/// A slice of a list: at most `limit` records after skipping `offset`, in id order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

/// A game system, such as `n64`, that ROMs and firmware files belong to.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Platform {
    pub id: i64,
    /// Lower-case and unique.
    pub slug: String,
    pub name: String,
}

/// A platform's fields, already validated.
pub struct PlatformFields {
    pub slug: String,
    pub name: String,
}

/// How many records deleting a platform removed with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformRemoval {
    pub roms: u64,
    pub firmware: u64,
}

/// One game file of a platform.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Rom {
    pub id: i64,
    pub platform_id: i64,
    pub name: String,
    /// Unique within the platform.
    pub file_name: String,
    pub file_size: i64,
}

/// A ROM's fields, already validated.
pub struct RomFields {
    pub platform_id: i64,
    pub name: String,
    pub file_name: String,
    pub file_size: i64,
}

/// One page of ROMs with the number of ROMs matching the filter on all pages.
pub struct RomPage {
    pub roms: Vec<Rom>,
    pub total: i64,
}

/// One user's own data about a ROM; a ROM the user never rated has the defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct RomProps {
    /// 0 to 10; 0 means unrated.
    pub rating: i64,
    pub status: Option<String>,
    pub notes: Option<String>,
    pub last_played: Option<DateTime<Utc>>,
}

/// A named list of ROMs owned by one user, visible to everyone when public.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Collection {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub description: String,
    pub is_public: bool,
    /// In the order the owner gave them.
    #[sqlx(skip)]
    pub rom_ids: Vec<i64>,
}

/// A collection's fields, already validated; `rom_ids` holds no id twice.
pub struct CollectionFields {
    pub name: String,
    pub description: String,
    pub is_public: bool,
    pub rom_ids: Vec<i64>,
}

/// A BIOS or other system file a platform's emulators need.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Firmware {
    pub id: i64,
    pub platform_id: i64,
    /// Unique within the platform.
    pub file_name: String,
    pub file_size: i64,
    /// 32 lower-case hexadecimal digits.
    pub md5: String,
}

/// A firmware file's fields, already validated.
pub struct FirmwareFields {
    pub platform_id: i64,
    pub file_name: String,
    pub file_size: i64,
    pub md5: String,
}

/// What a write that names other records did; only [`Saved::Record`] wrote anything.
#[derive(Debug)]
pub enum Saved<T> {
    /// The record as stored now.
    Record(T),
    /// No record has the id being changed (for collections: none the caller owns).
    /// Creations never answer this.
    Missing,
    /// The write names a record that does not exist.
    UnknownReference(Reference),
}

/// A record that a write names by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    Platform(i64),
    Rom(i64),
}

/// The columns of `platforms` in the order [`Platform`] reads them.
pub(super) const PLATFORM_COLUMNS: &str = "id, slug, name";

pub(super) const ROM_COLUMNS: &str = "id, platform_id, name, file_name, file_size";

pub(super) const COLLECTION_COLUMNS: &str = "id, user_id, name, description, is_public";

pub(super) const FIRMWARE_COLUMNS: &str = "id, platform_id, file_name, file_size, md5";

/// The conflict detail of a ROM file name that its platform already has.
pub(super) const ROM_FILE_NAME_TAKEN: &str = "The platform already has a ROM with this file_name";

/// The conflict detail of a firmware file name that its platform already has.
pub(super) const FIRMWARE_FILE_NAME_TAKEN: &str =
    "The platform already has a firmware file with this file_name";

/// The conflict detail of a slug that another platform has.
pub(super) fn slug_taken(slug: &str) -> String {
    format!("A platform with slug '{slug}' already exists")
}

/// The conflict of deleting, without cascade, a platform that still has files.
pub(super) fn platform_in_use(roms: i64, firmware: i64) -> StoreError {
    StoreError::Conflict(format!(
        "The platform still has {roms} ROM(s) and {firmware} firmware file(s); delete them \
         first or pass cascade=true"
    ))
}

/// The first of `requested` that is not among `found`, in the order requested.
pub(super) fn first_missing(requested: &[i64], found: &[i64]) -> Option<i64> {
    requested.iter().copied().find(|id| !found.contains(id))
}

/// Gives each collection its ROM ids from `(collection_id, rom_id)` entries in position
/// order.
pub(super) fn attach_rom_ids(collections: &mut [Collection], entries: &[(i64, i64)]) {
    for collection in collections {
        collection.rom_ids = entries
            .iter()
            .filter(|(collection_id, _)| *collection_id == collection.id)
            .map(|(_, rom_id)| *rom_id)
            .collect();
    }
}

/// Whether the error is a broken foreign key: a referenced record is missing.
pub(super) fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|database_error| database_error.is_foreign_key_violation())
}

/// Turns a broken unique constraint into a conflict with `detail`, and passes others on.
pub(super) fn conflict_with(detail: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |error| {
        let is_unique_violation = error
            .as_database_error()
            .is_some_and(|database_error| database_error.is_unique_violation());
        if is_unique_violation {
            StoreError::Conflict(detail.to_owned())
        } else {
            error.into()
        }
    }
}

/// Reads the outcome of a one-row write to a record that names its platform.
///
/// No row means no record had the id; a broken foreign key means the platform is missing;
/// a broken unique constraint is a conflict with `taken`.
pub(super) fn saved_on_platform<T>(
    written: Result<Option<T>, sqlx::Error>,
    platform_id: i64,
    taken: &str,
) -> StoreResult<Saved<T>> {
    match written {
        Ok(Some(record)) => Ok(Saved::Record(record)),
        Ok(None) => Ok(Saved::Missing),
        Err(error) if is_foreign_key_violation(&error) => {
            Ok(Saved::UnknownReference(Reference::Platform(platform_id)))
        }
        Err(error) => Err(conflict_with(taken)(error)),
    }
}

/// The library and the maintenance of expired credentials, as named operations.
///
/// Lists come in id order. Every method is one unit of work; one that refuses leaves
/// nothing written.
#[async_trait]
pub trait LibraryStore: Send + Sync + 'static {
    /// Creates a platform; a taken slug is a conflict.
    async fn create_platform(&self, fields: PlatformFields) -> StoreResult<Platform>;

    /// One page of platforms, in id order.
    async fn list_platforms(&self, page: Page) -> StoreResult<Vec<Platform>>;

    /// The platform with this id.
    async fn find_platform(&self, id: i64) -> StoreResult<Option<Platform>>;

    /// Replaces a platform's fields; `None` when there is no such platform, a conflict when
    /// another platform has the slug.
    async fn update_platform(
        &self,
        id: i64,
        fields: PlatformFields,
    ) -> StoreResult<Option<Platform>>;

    /// Deletes a platform, and with `cascade` its ROMs and firmware too, in one transaction.
    ///
    /// Without `cascade`, a platform that has ROMs or firmware is a conflict and stays.
    /// `None` when there is no such platform.
    async fn delete_platform(&self, id: i64, cascade: bool)
        -> StoreResult<Option<PlatformRemoval>>;

    /// Creates a ROM; a file name taken on the platform is a conflict.
    async fn create_rom(&self, fields: RomFields) -> StoreResult<Saved<Rom>>;

    /// One page of ROMs, of one platform when `platform_id` is given.
    async fn list_roms(&self, platform_id: Option<i64>, page: Page) -> StoreResult<RomPage>;

    /// The ROM with this id.
    async fn find_rom(&self, id: i64) -> StoreResult<Option<Rom>>;

    /// Replaces a ROM's fields; a file name taken on the platform is a conflict.
    async fn update_rom(&self, id: i64, fields: RomFields) -> StoreResult<Saved<Rom>>;

    /// Deletes a ROM with every user's properties and collection entries for it.
    async fn delete_rom(&self, id: i64) -> StoreResult<bool>;

    /// The user's properties of a ROM; `None` when there is no such ROM.
    async fn find_rom_props(&self, rom_id: i64, user_id: i64) -> StoreResult<Option<RomProps>>;

    /// Replaces the user's properties of a ROM; `None` when there is no such ROM.
    async fn save_rom_props(
        &self,
        rom_id: i64,
        user_id: i64,
        props: RomProps,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<RomProps>>;

    /// Creates a collection owned by `owner` with its ROMs, in one transaction.
    async fn create_collection(
        &self,
        owner: i64,
        fields: CollectionFields,
    ) -> StoreResult<Saved<Collection>>;

    /// The collections `viewer` may see: its own and every public one (only public ones
    /// for a caller without a user).
    async fn list_collections(
        &self,
        viewer: Option<i64>,
        page: Page,
    ) -> StoreResult<Vec<Collection>>;

    /// The collection, if `viewer` owns it or it is public.
    async fn find_collection(
        &self,
        id: i64,
        viewer: Option<i64>,
    ) -> StoreResult<Option<Collection>>;

    /// Replaces the fields and ROMs of a collection that `owner` owns, in one transaction.
    async fn update_collection(
        &self,
        id: i64,
        owner: i64,
        fields: CollectionFields,
    ) -> StoreResult<Saved<Collection>>;

    /// Deletes a collection that `owner` owns; `false` when it owns none with this id.
    async fn delete_collection(&self, id: i64, owner: i64) -> StoreResult<bool>;

    /// Creates a firmware file; a file name taken on the platform is a conflict.
    async fn create_firmware(&self, fields: FirmwareFields) -> StoreResult<Saved<Firmware>>;

    /// One page of firmware files, of one platform when `platform_id` is given.
    async fn list_firmware(
        &self,
        platform_id: Option<i64>,
        page: Page,
    ) -> StoreResult<Vec<Firmware>>;

    /// The firmware file with this id.
    async fn find_firmware(&self, id: i64) -> StoreResult<Option<Firmware>>;

    /// Replaces a firmware file's fields; a file name taken on the platform is a conflict.
    async fn update_firmware(
        &self,
        id: i64,
        fields: FirmwareFields,
    ) -> StoreResult<Saved<Firmware>>;

    /// Deletes a firmware file; `false` when there is no such file.
    async fn delete_firmware(&self, id: i64) -> StoreResult<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_missing_id_is_reported_in_request_order() {
        assert_eq!(first_missing(&[3, 9, 7, 8], &[3, 8]), Some(9));
        assert_eq!(first_missing(&[3, 8], &[8, 3]), None);
        assert_eq!(first_missing(&[], &[1]), None);
    }

    #[test]
    fn each_collection_gets_its_own_rom_ids_in_position_order() {
        let collection = |id| Collection {
            id,
            user_id: 1,
            name: format!("Collection {id}"),
            description: String::new(),
            is_public: false,
            rom_ids: vec![99],
        };
        let mut collections = [collection(1), collection(2), collection(3)];

        attach_rom_ids(&mut collections, &[(1, 30), (1, 10), (3, 20)]);

        assert_eq!(collections[0].rom_ids, [30, 10]);
        assert_eq!(collections[1].rom_ids, Vec::<i64>::new());
        assert_eq!(collections[2].rom_ids, [20]);
    }

    #[test]
    fn a_platform_in_use_names_both_counts_and_the_way_out() {
        let StoreError::Conflict(detail) = platform_in_use(2, 1) else {
            panic!("a platform in use must be a conflict");
        };
        assert!(
            detail.contains("2 ROM(s) and 1 firmware file(s)"),
            "{detail}"
        );
        assert!(detail.contains("cascade=true"), "{detail}");
    }
}
