-- Switchboard SQLite schema, version 6: integrations (issue 13 §1): the webhook outbox
-- (endpoints, events, deliveries, the delivery log), API keys, invitations. Agents' active flag
-- (deactivation) is migration 5's.

-- `events` is ',kind,kind,' (instr() finds ',kind,'), or '*' for every kind.
CREATE TABLE webhook_endpoints (
    id          TEXT PRIMARY KEY,
    site_id     TEXT NOT NULL,
    url         TEXT NOT NULL,
    description TEXT NOT NULL,
    events      TEXT NOT NULL,
    secret      TEXT NOT NULL,
    enabled     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
-- Every outbox write probes this: a site without endpoints records nothing.
CREATE INDEX webhook_endpoints_site ON webhook_endpoints (site_id, enabled);

-- One row per event, written in the same transaction as the change that caused it (only when
-- some endpoint wants it). `body` is the exact JSON every attempt sends.
CREATE TABLE webhook_events (
    id         TEXT PRIMARY KEY,
    site_id    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per (event, endpoint). state: pending | sending | delivered | dead. A claim sets
-- `sending` and moves `next_at` to the lease's end, so "due" is one range of one index:
-- pending rows whose time came and sending rows whose lease ran out.
CREATE TABLE webhook_deliveries (
    event_id    TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    site_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    next_at     INTEGER NOT NULL,
    lease_owner TEXT,
    last_status INTEGER,
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (event_id, endpoint_id)
) WITHOUT ROWID;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at)
    WHERE state IN ('pending', 'sending');
CREATE INDEX webhook_deliveries_site ON webhook_deliveries (site_id, updated_at DESC);

-- The delivery log: one row per finished attempt (`at` in the key: a dead delivery sent again
-- counts its attempts from 1 again).
CREATE TABLE webhook_attempts (
    event_id    TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    site_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    at          INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    status      INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL,
    next_at     INTEGER,
    PRIMARY KEY (event_id, endpoint_id, at, attempt)
) WITHOUT ROWID;
CREATE INDEX webhook_attempts_site ON webhook_attempts (site_id, at DESC);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, at DESC);

-- Only the keyed hash of a key is stored; a request's key is found by its hash.
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    site_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    hash       TEXT NOT NULL,
    scopes     TEXT NOT NULL, -- JSON array of scope names
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;
CREATE UNIQUE INDEX api_keys_hash ON api_keys (hash);
CREATE INDEX api_keys_site ON api_keys (site_id, created_at);

-- Keyed by the SHA-256 of the invitation token.
CREATE TABLE invites (
    token_hash  TEXT PRIMARY KEY,
    site_id     TEXT NOT NULL,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    accepted_at INTEGER
) WITHOUT ROWID;
CREATE INDEX invites_site ON invites (site_id, created_at DESC);
