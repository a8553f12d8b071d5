-- Switchboard SQLite schema, version 7 (issue 13: analytics, compliance): analytics counters
-- written with the events, the append-only audit log, and what the retention sweeper needs.

-- One row per (site, local day, local hour, agent, inside business hours, metric): a count and
-- a total (milliseconds for durations, score sums for CSAT). A report is one range scan of a
-- site's days. agent_id is '' for events credited to nobody (a new conversation).
CREATE TABLE analytics_counters (
    site_id      TEXT NOT NULL,
    day          INTEGER NOT NULL, -- days since 1970-01-01 of the local date
    hour         INTEGER NOT NULL,
    agent_id     TEXT NOT NULL,
    inside_hours INTEGER NOT NULL,
    metric       TEXT NOT NULL,
    count        INTEGER NOT NULL,
    total        INTEGER NOT NULL,
    PRIMARY KEY (site_id, day, hour, agent_id, inside_hours, metric)
) WITHOUT ROWID;

-- Agents' and admins' actions, newest first per site. Append-only: the triggers below refuse
-- any change, so not even a bug (or a visitor's erasure) can rewrite history.
CREATE TABLE audit_log (
    site_id    TEXT NOT NULL,
    at         INTEGER NOT NULL,
    id         TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id   TEXT,
    actor_name TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT,
    detail     TEXT NOT NULL, -- JSON
    ip         TEXT,
    PRIMARY KEY (site_id, at, id)
) WITHOUT ROWID;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- Visitor events carry their site, so the retention sweeper finds a site's old events by
-- index instead of scanning every site's. Rows written before this version get it now.
ALTER TABLE visitor_events ADD COLUMN site_id TEXT;
UPDATE visitor_events
   SET site_id = (SELECT site_id FROM visitors WHERE visitors.id = visitor_events.visitor_id);
CREATE INDEX visitor_events_site_at ON visitor_events (site_id, at);

-- Webhook events (migration 6) by site and age: the retention sweeper deletes a site's old
-- events (and their deliveries and attempts) once no delivery of them is still due.
CREATE INDEX webhook_events_site_at ON webhook_events (site_id, created_at);
