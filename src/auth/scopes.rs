//! The 22 RomM scopes, the role-to-scope matrix, and scope sets as bit masks.
//!
//! Every authorization decision in the server reduces to "does this set contain that set",
//! so the set is a `u32` and the check is one AND. The names and their canonical order are
//! RomM's, because real clients request them by name and read them back in lists.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// One permission a credential may carry, named as RomM names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Scope {
    MeRead,
    MeWrite,
    RomsRead,
    RomsWrite,
    RomsUserRead,
    RomsUserWrite,
    PlatformsRead,
    PlatformsWrite,
    AssetsRead,
    AssetsWrite,
    DevicesRead,
    DevicesWrite,
    FirmwareRead,
    FirmwareWrite,
    CollectionsRead,
    CollectionsWrite,
    PlaylistsRead,
    PlaylistsWrite,
    UsersRead,
    UsersWrite,
    TasksRun,
    LogsRead,
}

impl Scope {
    /// Every scope, in the canonical order used in responses and documents.
    pub const ALL: [Scope; 22] = [
        Scope::MeRead,
        Scope::MeWrite,
        Scope::RomsRead,
        Scope::RomsWrite,
        Scope::RomsUserRead,
        Scope::RomsUserWrite,
        Scope::PlatformsRead,
        Scope::PlatformsWrite,
        Scope::AssetsRead,
        Scope::AssetsWrite,
        Scope::DevicesRead,
        Scope::DevicesWrite,
        Scope::FirmwareRead,
        Scope::FirmwareWrite,
        Scope::CollectionsRead,
        Scope::CollectionsWrite,
        Scope::PlaylistsRead,
        Scope::PlaylistsWrite,
        Scope::UsersRead,
        Scope::UsersWrite,
        Scope::TasksRun,
        Scope::LogsRead,
    ];

    /// The scope's wire name, such as `roms.user.write`.
    pub const fn name(self) -> &'static str {
        match self {
            Scope::MeRead => "me.read",
            Scope::MeWrite => "me.write",
            Scope::RomsRead => "roms.read",
            Scope::RomsWrite => "roms.write",
            Scope::RomsUserRead => "roms.user.read",
            Scope::RomsUserWrite => "roms.user.write",
            Scope::PlatformsRead => "platforms.read",
            Scope::PlatformsWrite => "platforms.write",
            Scope::AssetsRead => "assets.read",
            Scope::AssetsWrite => "assets.write",
            Scope::DevicesRead => "devices.read",
            Scope::DevicesWrite => "devices.write",
            Scope::FirmwareRead => "firmware.read",
            Scope::FirmwareWrite => "firmware.write",
            Scope::CollectionsRead => "collections.read",
            Scope::CollectionsWrite => "collections.write",
            Scope::PlaylistsRead => "playlists.read",
            Scope::PlaylistsWrite => "playlists.write",
            Scope::UsersRead => "users.read",
            Scope::UsersWrite => "users.write",
            Scope::TasksRun => "tasks.run",
            Scope::LogsRead => "logs.read",
        }
    }

    /// A one-line description, shown in the OpenAPI document's OAuth2 scheme.
    pub const fn description(self) -> &'static str {
        match self {
            Scope::MeRead => "View your profile",
            Scope::MeWrite => "Modify your profile and your API tokens",
            Scope::RomsRead => "View ROMs",
            Scope::RomsWrite => "Modify ROMs",
            Scope::RomsUserRead => "View your ROM properties",
            Scope::RomsUserWrite => "Modify your ROM properties",
            Scope::PlatformsRead => "View platforms",
            Scope::PlatformsWrite => "Modify platforms",
            Scope::AssetsRead => "View assets",
            Scope::AssetsWrite => "Modify assets",
            Scope::DevicesRead => "View your devices",
            Scope::DevicesWrite => "Modify your devices",
            Scope::FirmwareRead => "View firmware",
            Scope::FirmwareWrite => "Modify firmware",
            Scope::CollectionsRead => "View collections",
            Scope::CollectionsWrite => "Modify collections",
            Scope::PlaylistsRead => "View playlists",
            Scope::PlaylistsWrite => "Modify playlists",
            Scope::UsersRead => "View users",
            Scope::UsersWrite => "Modify users",
            Scope::TasksRun => "Run tasks",
            Scope::LogsRead => "View logs",
        }
    }

    const fn bit(self) -> u32 {
        1 << self as u8
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// The error for a scope name that RomM does not define.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown scope: {0}")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.name() == name)
            .ok_or_else(|| UnknownScope(name.to_owned()))
    }
}

/// A scope in the OpenAPI document: one of the 22 names, wherever a field takes or lists them.
impl PartialSchema for Scope {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Scope::ALL.map(Scope::name)))
            .description(Some("A RomM scope"))
            .into()
    }
}

impl ToSchema for Scope {}

/// A set of scopes; iteration and display follow the canonical order.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(u32);

impl ScopeSet {
    /// The set with no scope.
    pub const EMPTY: ScopeSet = ScopeSet(0);

    /// The set of the given scopes, usable in constants.
    pub const fn of(scopes: &[Scope]) -> ScopeSet {
        let mut bits = 0;
        let mut index = 0;
        while index < scopes.len() {
            bits |= scopes[index].bit();
            index += 1;
        }
        ScopeSet(bits)
    }

    /// Rebuilds a set from the bits kept by [`ScopeSet::bits`].
    pub const fn from_bits(bits: u32) -> ScopeSet {
        ScopeSet(bits & ScopeSet::of(&Scope::ALL).0)
    }

    /// The raw bit mask, for compact storage.
    pub const fn bits(self) -> u32 {
        self.0
    }

    pub const fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Whether every scope of `other` is in this set.
    pub const fn contains_all(self, other: ScopeSet) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn intersection(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & other.0)
    }

    /// The scopes of `self` that `other` lacks.
    pub const fn difference(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & !other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .into_iter()
            .filter(move |scope| self.contains(*scope))
    }

    /// The wire names, in canonical order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Scope::name).collect()
    }

    /// Parses a list of scope names, refusing any name RomM does not define.
    ///
    /// Names in canonical order, as every token we issue lists them, are each found at the
    /// first comparison: the search for a name starts just after the previous name's scope.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<ScopeSet, UnknownScope> {
        let mut set = ScopeSet::EMPTY;
        let mut start = 0;
        for name in names {
            let position = (0..Scope::ALL.len())
                .map(|offset| (start + offset) % Scope::ALL.len())
                .find(|&index| Scope::ALL[index].name() == name)
                .ok_or_else(|| UnknownScope(name.to_owned()))?;
            set = set.with(Scope::ALL[position]);
            start = position + 1;
        }
        Ok(set)
    }

    const fn with(self, scope: Scope) -> ScopeSet {
        ScopeSet(self.0 | scope.bit())
    }
}

impl fmt::Display for ScopeSet {
    /// Space-separated names, the form OAuth2 uses in `scope` parameters.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.names().join(" "))
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_list()
            .entries(self.iter().map(Scope::name))
            .finish()
    }
}

/// The scopes that kiosk mode grants to anonymous callers.
pub const READ_SCOPES: ScopeSet = ScopeSet::of(&[
    Scope::MeRead,
    Scope::RomsRead,
    Scope::PlatformsRead,
    Scope::AssetsRead,
    Scope::DevicesRead,
    Scope::FirmwareRead,
    Scope::RomsUserRead,
    Scope::CollectionsRead,
    Scope::PlaylistsRead,
]);

const VIEWER_SCOPES: ScopeSet = ScopeSet(
    READ_SCOPES.0
        | ScopeSet::of(&[
            Scope::MeWrite,
            Scope::AssetsWrite,
            Scope::DevicesWrite,
            Scope::RomsUserWrite,
            Scope::CollectionsWrite,
            Scope::PlaylistsWrite,
        ])
        .0,
);

const EDITOR_SCOPES: ScopeSet = ScopeSet(
    VIEWER_SCOPES.0
        | ScopeSet::of(&[
            Scope::RomsWrite,
            Scope::PlatformsWrite,
            Scope::FirmwareWrite,
        ])
        .0,
);

const ADMIN_SCOPES: ScopeSet = ScopeSet::of(&Scope::ALL);

/// A user's role, which fixes the scopes that sessions and Basic credentials carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub const fn scopes(self) -> ScopeSet {
        match self {
            Role::Viewer => VIEWER_SCOPES,
            Role::Editor => EDITOR_SCOPES,
            Role::Admin => ADMIN_SCOPES,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            _ => Err(format!(
                "unknown role '{name}': expected viewer, editor or admin"
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_canonical_order() {
        let names: Vec<_> = Scope::ALL.iter().map(|scope| scope.name()).collect();
        let canonical = "me.read me.write roms.read roms.write roms.user.read roms.user.write \
            platforms.read platforms.write assets.read assets.write devices.read devices.write \
            firmware.read firmware.write collections.read collections.write playlists.read \
            playlists.write users.read users.write tasks.run logs.read";
        assert_eq!(names.join(" "), canonical);
        for scope in Scope::ALL {
            assert_eq!(scope.name().parse::<Scope>(), Ok(scope));
        }
    }

    #[test]
    fn names_parse_in_any_order_and_repeated() {
        let canonical = ScopeSet::parse(Scope::ALL.map(Scope::name)).unwrap();
        assert_eq!(canonical.names(), Scope::ALL.map(Scope::name).to_vec());

        let reversed = ScopeSet::parse(Scope::ALL.map(Scope::name).into_iter().rev()).unwrap();
        assert_eq!(reversed.names(), canonical.names());

        let scrambled = ScopeSet::parse(["users.write", "me.read", "logs.read", "me.read"]);
        assert_eq!(
            scrambled.unwrap().names(),
            ["me.read", "users.write", "logs.read"]
        );
        assert_eq!(ScopeSet::parse([]).unwrap().names(), Vec::<&str>::new());
    }

    #[test]
    fn unknown_scope_names_are_refused() {
        assert!(ScopeSet::parse(["me.read", "me.admin"]).is_err());
        assert!("ME.READ".parse::<Scope>().is_err());
    }

    #[test]
    fn role_matrix_matches_the_contract() {
        let viewer = "me.read me.write roms.read roms.user.read roms.user.write platforms.read \
            assets.read assets.write devices.read devices.write firmware.read collections.read \
            collections.write playlists.read playlists.write";
        assert_eq!(Role::Viewer.scopes().to_string(), viewer);
        assert_eq!(Role::Viewer.scopes().names().len(), 15);

        let editor_extra = Role::Editor.scopes().difference(Role::Viewer.scopes());
        assert_eq!(
            editor_extra.to_string(),
            "roms.write platforms.write firmware.write"
        );

        let admin_extra = Role::Admin.scopes().difference(Role::Editor.scopes());
        assert_eq!(
            admin_extra.to_string(),
            "users.read users.write tasks.run logs.read"
        );
    }

    #[test]
    fn read_scopes_are_the_nine_of_the_left_column() {
        assert_eq!(READ_SCOPES.names().len(), 9);
        assert!(Role::Viewer.scopes().contains_all(READ_SCOPES));
        assert!(READ_SCOPES
            .iter()
            .all(|scope| scope.name().ends_with(".read")));
    }

    #[test]
    fn set_operations_behave_as_sets() {
        let read_me = ScopeSet::of(&[Scope::MeRead]);
        let both = ScopeSet::of(&[Scope::MeRead, Scope::MeWrite]);
        assert!(both.contains_all(read_me));
        assert!(!read_me.contains_all(both));
        assert_eq!(both.intersection(read_me), read_me);
        assert_eq!(both.difference(read_me).names(), ["me.write"]);
        assert_eq!(ScopeSet::from_bits(both.bits()), both);
        assert!(ScopeSet::EMPTY.is_empty());
    }
}
