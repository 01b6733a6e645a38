-- Users with a role (admin, ranger, planner, viewer) and the admin units they cover; login tokens and API keys
-- stored only as SHA-256 hashes.
CREATE TABLE users (
    username text PRIMARY KEY,
    display_name text,
    role text NOT NULL CHECK (role IN ('admin', 'ranger', 'planner', 'viewer')),
    units text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    disabled integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL
);
CREATE TABLE credentials (
    secret_hash text PRIMARY KEY,
    username text NOT NULL REFERENCES users(username),
    kind text NOT NULL CHECK (kind IN ('token', 'api_key')),
    name text,
    created_at timestamptz NOT NULL,
    expires_at timestamptz
);
CREATE INDEX credentials_username ON credentials(username);
