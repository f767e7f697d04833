//! `/api/collections`: named lists of ROMs (`collections.read` to see, `collections.write`
//! to change). You see your own and everyone's public ones, and change only your own:
//! another user's private collection is 404, a public one 403 on change.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{saved, FieldChecks, PageQuery, Query};
use crate::auth::{require, Authorized};
use crate::error::{ApiError, Result};
use crate::http::extract::{Json, Path};
use crate::state::AppState;
use crate::store::{Collection, CollectionFields};

/// The longest description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 2_000;

/// The most ROMs one collection holds.
const MAX_ROMS: usize = 10_000;

/// The collection routes with their OpenAPI entries.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_collection, list_collections))
        .routes(routes!(
            get_collection,
            update_collection,
            delete_collection
        ))
}

/// A collection as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct CollectionSchema {
    id: i64,
    name: String,
    description: String,
    is_public: bool,
    /// The owner.
    user_id: i64,
    /// In the order the owner gave them.
    rom_ids: Vec<i64>,
}

impl From<Collection> for CollectionSchema {
    fn from(collection: Collection) -> CollectionSchema {
        CollectionSchema {
            id: collection.id,
            name: collection.name,
            description: collection.description,
            is_public: collection.is_public,
            user_id: collection.user_id,
            rom_ids: collection.rom_ids,
        }
    }
}

/// A collection's fields; when replacing, a field left out is reset to its default.
#[derive(Deserialize, ToSchema)]
pub struct CollectionForm {
    /// 1 to 255 characters.
    #[schema(min_length = 1, max_length = 255)]
    name: String,
    /// At most 2 000 characters; empty when absent.
    #[serde(default)]
    #[schema(max_length = 2000)]
    description: String,
    /// Whether every user may see it; `false` when absent.
    #[serde(default)]
    is_public: bool,
    /// Ids of existing ROMs, each at most once, in the order to keep; at most 10 000.
    #[serde(default)]
    #[schema(max_items = 10000)]
    rom_ids: Vec<i64>,
}

impl CollectionForm {
    /// Checks every field and returns the store's view of them.
    fn validate(self) -> Result<CollectionFields> {
        let mut checks = FieldChecks::default();
        let name = checks.text("name", &self.name);
        checks.long_text("description", &self.description, MAX_DESCRIPTION_CHARS);
        if self.rom_ids.len() > MAX_ROMS {
            checks.fail("rom_ids", format!("must list at most {MAX_ROMS} ROMs"));
        } else if let Some(repeated) = first_repeated(&self.rom_ids) {
            checks.fail("rom_ids", format!("lists ROM {repeated} more than once"));
        }
        checks.finish()?;
        Ok(CollectionFields {
            name,
            description: self.description,
            is_public: self.is_public,
            rom_ids: self.rom_ids,
        })
    }
}

/// The first id that `ids` holds a second time.
fn first_repeated(ids: &[i64]) -> Option<i64> {
    let mut seen = HashSet::new();
    ids.iter().copied().find(|id| !seen.insert(*id))
}

fn collection_not_found() -> ApiError {
    ApiError::NotFound("Collection not found".to_owned())
}

/// Lets the caller change only its own collection, given what it can see of it.
///
/// A public collection of someone else is visible, so refusing it with 403 reveals
/// nothing; a private one is answered as if it did not exist.
fn check_owner(visible: Option<&Collection>, user_id: i64) -> Result<()> {
    match visible {
        None => Err(collection_not_found()),
        Some(collection) if collection.user_id != user_id => Err(ApiError::Forbidden(
            "This collection belongs to another user; only its owner can change it".to_owned(),
        )),
        Some(_) => Ok(()),
    }
}

/// Creates a collection of yours.
#[utoipa::path(
    post,
    path = "/api/collections",
    tag = "collections",
    request_body = CollectionForm,
    responses(
        (status = 201, description = "Created", body = CollectionSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing collections.write"),
        (status = 422, description = "Invalid field, or a ROM id names no ROM"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["collections.write"]),
        ("HTTPBasic" = ["collections.write"]),
        ("SessionCookie" = ["collections.write"]),
        ("ClientToken" = ["collections.write"]),
    )
)]
async fn create_collection(
    caller: Authorized<require::CollectionsWrite>,
    State(state): State<AppState>,
    Json(form): Json<CollectionForm>,
) -> Result<(StatusCode, Json<CollectionSchema>)> {
    let user_id = caller.identity.user()?.id;
    let fields = form.validate()?;

    let created = state.store.create_collection(user_id, fields).await?;
    let collection = saved(created, "Collection not found")?;

    tracing::info!(
        user.id = user_id,
        collection.id = collection.id,
        "collection created"
    );
    Ok((StatusCode::CREATED, Json(collection.into())))
}

/// Lists your collections and everyone's public ones, in id order.
#[utoipa::path(
    get,
    path = "/api/collections",
    tag = "collections",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of collections", body = Vec<CollectionSchema>),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing collections.read"),
        (status = 422, description = "Invalid limit or offset"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["collections.read"]),
        ("HTTPBasic" = ["collections.read"]),
        ("SessionCookie" = ["collections.read"]),
        ("ClientToken" = ["collections.read"]),
    )
)]
async fn list_collections(
    caller: Authorized<require::CollectionsRead>,
    State(state): State<AppState>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<Vec<CollectionSchema>>> {
    let page = paging.page()?;
    let viewer = caller.identity.user_id();
    let collections = state.store.list_collections(viewer, page).await?;
    Ok(Json(
        collections
            .into_iter()
            .map(CollectionSchema::from)
            .collect(),
    ))
}

/// One collection: yours, or a public one.
#[utoipa::path(
    get,
    path = "/api/collections/{id}",
    tag = "collections",
    params(("id" = i64, Path, description = "Collection id")),
    responses(
        (status = 200, description = "The collection", body = CollectionSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing collections.read"),
        (status = 404, description = "No such collection that you may see"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["collections.read"]),
        ("HTTPBasic" = ["collections.read"]),
        ("SessionCookie" = ["collections.read"]),
        ("ClientToken" = ["collections.read"]),
    )
)]
async fn get_collection(
    caller: Authorized<require::CollectionsRead>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<CollectionSchema>> {
    let viewer = caller.identity.user_id();
    let collection = state
        .store
        .find_collection(id, viewer)
        .await?
        .ok_or_else(collection_not_found)?;
    Ok(Json(collection.into()))
}

/// Replaces the fields and ROMs of a collection of yours.
#[utoipa::path(
    put,
    path = "/api/collections/{id}",
    tag = "collections",
    params(("id" = i64, Path, description = "Collection id")),
    request_body = CollectionForm,
    responses(
        (status = 200, description = "The changed collection", body = CollectionSchema),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing collections.write, or another user's collection"),
        (status = 404, description = "No such collection that you may see"),
        (status = 422, description = "Invalid field, or a ROM id names no ROM"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["collections.write"]),
        ("HTTPBasic" = ["collections.write"]),
        ("SessionCookie" = ["collections.write"]),
        ("ClientToken" = ["collections.write"]),
    )
)]
async fn update_collection(
    caller: Authorized<require::CollectionsWrite>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(form): Json<CollectionForm>,
) -> Result<Json<CollectionSchema>> {
    let user_id = caller.identity.user()?.id;
    let visible = state.store.find_collection(id, Some(user_id)).await?;
    check_owner(visible.as_ref(), user_id)?;
    let fields = form.validate()?;

    let updated = state.store.update_collection(id, user_id, fields).await?;
    let collection = saved(updated, "Collection not found")?;

    tracing::info!(user.id = user_id, collection.id = id, "collection updated");
    Ok(Json(collection.into()))
}

/// Deletes a collection of yours; its ROMs stay in the library.
#[utoipa::path(
    delete,
    path = "/api/collections/{id}",
    tag = "collections",
    params(("id" = i64, Path, description = "Collection id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated"),
        (status = 403, description = "Missing collections.write, or another user's collection"),
        (status = 404, description = "No such collection that you may see"),
    ),
    security(
        ("OAuth2PasswordBearer" = ["collections.write"]),
        ("HTTPBasic" = ["collections.write"]),
        ("SessionCookie" = ["collections.write"]),
        ("ClientToken" = ["collections.write"]),
    )
)]
async fn delete_collection(
    caller: Authorized<require::CollectionsWrite>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    let user_id = caller.identity.user()?.id;
    let visible = state.store.find_collection(id, Some(user_id)).await?;
    check_owner(visible.as_ref(), user_id)?;

    // Ownership is checked again in the delete itself, in case the collection changed hands.
    if !state.store.delete_collection(id, user_id).await? {
        return Err(collection_not_found());
    }

    tracing::info!(user.id = user_id, collection.id = id, "collection deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collection(owner: i64, is_public: bool) -> Collection {
        Collection {
            id: 1,
            user_id: owner,
            name: "Favourites".to_owned(),
            description: String::new(),
            is_public,
            rom_ids: Vec::new(),
        }
    }

    #[test]
    fn only_the_owner_may_change_a_collection() {
        assert!(check_owner(Some(&collection(7, false)), 7).is_ok());
        assert!(check_owner(Some(&collection(7, true)), 7).is_ok());

        let public_of_another = check_owner(Some(&collection(8, true)), 7);
        assert!(matches!(public_of_another, Err(ApiError::Forbidden(_))));
        let invisible = check_owner(None, 7);
        assert!(matches!(invisible, Err(ApiError::NotFound(_))));
    }

    #[test]
    fn a_repeated_rom_is_found_at_its_second_mention() {
        assert_eq!(first_repeated(&[4, 2, 9, 2, 4]), Some(2));
        assert_eq!(first_repeated(&[4, 2, 9]), None);
    }
}
