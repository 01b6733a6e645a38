-- Users with a role (admin, ranger, planner, viewer) and the admin units they cover; login tokens and API keys
-- stored only as SHA-256 hashes.
CREATE TABLE users (
    username TEXT PRIMARY KEY,
    display_name TEXT,
    role TEXT NOT NULL CHECK (role IN ('admin', 'ranger', 'planner', 'viewer')),
    units TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE credentials (
    secret_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users(username),
    kind TEXT NOT NULL CHECK (kind IN ('token', 'api_key')),
    name TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT
);
CREATE INDEX credentials_username ON credentials(username);
