-- The library: platforms, their ROMs and firmware files, per-user ROM properties, and
-- collections of ROMs.
--
-- A platform cannot be deleted while ROMs or firmware files name it (the API deletes them
-- first when asked to cascade). Properties and collection entries die with their ROM, and
-- everything a user owns dies with the user.

CREATE TABLE platforms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL
);

CREATE TABLE roms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform_id INTEGER NOT NULL REFERENCES platforms (id),
    name TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_size INTEGER NOT NULL CHECK (file_size >= 0),
    UNIQUE (platform_id, file_name)
);

CREATE TABLE rom_user_props (
    rom_id INTEGER NOT NULL REFERENCES roms (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rating INTEGER NOT NULL DEFAULT 0 CHECK (rating BETWEEN 0 AND 10),
    status TEXT,
    notes TEXT,
    last_played TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (rom_id, user_id)
);

CREATE INDEX rom_user_props_user ON rom_user_props (user_id);

CREATE TABLE collections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    is_public BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE INDEX collections_user ON collections (user_id);

CREATE TABLE collection_roms (
    collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    rom_id INTEGER NOT NULL REFERENCES roms (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    PRIMARY KEY (collection_id, rom_id)
);

CREATE INDEX collection_roms_rom ON collection_roms (rom_id);

CREATE TABLE firmware (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform_id INTEGER NOT NULL REFERENCES platforms (id),
    file_name TEXT NOT NULL,
    file_size INTEGER NOT NULL CHECK (file_size >= 0),
    md5 TEXT NOT NULL,
    UNIQUE (platform_id, file_name)
);
