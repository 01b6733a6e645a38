-- The review of an alert: who has it, its priority, the outcome, a version for optimistic concurrency, and an
-- append-only history of every transition (updates and deletes of history rows are refused).
ALTER TABLE alerts ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE alerts ADD COLUMN assigned_to TEXT;
ALTER TABLE alerts ADD COLUMN priority REAL;
ALTER TABLE alerts ADD COLUMN cause TEXT;
ALTER TABLE alerts ADD COLUMN dismiss_reason TEXT;
ALTER TABLE alerts ADD COLUMN review_note TEXT;
ALTER TABLE alerts ADD COLUMN reviewed_by TEXT;
ALTER TABLE alerts ADD COLUMN reviewed_at TEXT;
ALTER TABLE alerts ADD COLUMN case_id INTEGER;
CREATE INDEX alerts_status ON alerts(status);
CREATE INDEX alerts_assigned_to ON alerts(assigned_to);

CREATE TABLE alert_history (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL,
    at TEXT NOT NULL,
    username TEXT NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    reason TEXT,
    note TEXT,
    assignee TEXT,
    version INTEGER NOT NULL
);
CREATE INDEX alert_history_alert ON alert_history(alert_id);
CREATE TRIGGER alert_history_no_update BEFORE UPDATE ON alert_history
BEGIN
    SELECT RAISE(ABORT, 'alert_history is append-only');
END;
CREATE TRIGGER alert_history_no_delete BEFORE DELETE ON alert_history
BEGIN
    SELECT RAISE(ABORT, 'alert_history is append-only');
END;
