-- Violation cases (one case covers one or more confirmed alerts, linked by alerts.case_id; imported history too)
-- and the register of planting lots (polygon as WKB in EPSG:4326) for the afforestation targets.
CREATE TABLE cases (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    opened TEXT NOT NULL,
    violation_type TEXT NOT NULL,
    area_ha REAL,
    timber_m3 REAL,
    outcome TEXT NOT NULL DEFAULT 'pending',
    fine_amount REAL,
    district_id TEXT,
    note TEXT,
    source TEXT NOT NULL DEFAULT 'review',
    created_by TEXT,
    created_at TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX cases_opened ON cases(opened);

CREATE TABLE planting_lots (
    id INTEGER PRIMARY KEY,
    lot_id TEXT NOT NULL UNIQUE,
    planted TEXT NOT NULL,
    species TEXT,
    trees INTEGER,
    programme TEXT,
    area_ha REAL NOT NULL,
    district_id TEXT,
    geom BLOB,
    imported_at TEXT NOT NULL
);
CREATE INDEX planting_lots_planted ON planting_lots(planted);

CREATE TABLE photos (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    lon REAL,
    lat REAL,
    taken_at TEXT,
    uploaded_by TEXT NOT NULL,
    uploaded_at TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX photos_alert ON photos(alert_id);
