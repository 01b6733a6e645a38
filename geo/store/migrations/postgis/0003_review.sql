-- The review of an alert: who has it, its priority, the outcome, a version for optimistic concurrency, and an
-- append-only history of every transition (updates and deletes of history rows are refused).
ALTER TABLE alerts ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE alerts ADD COLUMN assigned_to text;
ALTER TABLE alerts ADD COLUMN priority double precision;
ALTER TABLE alerts ADD COLUMN cause text;
ALTER TABLE alerts ADD COLUMN dismiss_reason text;
ALTER TABLE alerts ADD COLUMN review_note text;
ALTER TABLE alerts ADD COLUMN reviewed_by text;
ALTER TABLE alerts ADD COLUMN reviewed_at timestamptz;
ALTER TABLE alerts ADD COLUMN case_id integer;
CREATE INDEX alerts_status ON alerts (status);
CREATE INDEX alerts_assigned_to ON alerts (assigned_to);

CREATE TABLE alert_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id text NOT NULL,
    at timestamptz NOT NULL,
    username text NOT NULL,
    action text NOT NULL,
    from_status text,
    to_status text NOT NULL,
    reason text,
    note text,
    assignee text,
    version integer NOT NULL
);
CREATE INDEX alert_history_alert ON alert_history (alert_id);
CREATE FUNCTION alert_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'alert_history is append-only';
END;
$$;
CREATE TRIGGER alert_history_append_only BEFORE UPDATE OR DELETE ON alert_history
    FOR EACH ROW EXECUTE FUNCTION alert_history_append_only();
