-- Switchboard SQLite schema, version 1.
-- Ids are uuid strings (TEXT): readable in the sqlite3 shell, and their byte order is the
-- uuid order, so v7 ids sort by creation time. Times are Unix milliseconds (INTEGER).
-- Structured fields (site settings, message authors) are JSON text: they are only ever
-- read whole, never queried into.

CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE sites (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    public_key      TEXT NOT NULL,
    identity_secret TEXT NOT NULL,
    settings        TEXT NOT NULL
) WITHOUT ROWID;
-- The widget finds its site by the key it embeds; two sites never share one.
CREATE UNIQUE INDEX sites_public_key ON sites (public_key);

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    site_id       TEXT NOT NULL,
    email         TEXT NOT NULL, -- lower-cased by the store before it is written
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    capacity      INTEGER NOT NULL
) WITHOUT ROWID;
-- Login is by email, case-insensitively; lower() also guards rows written by hand.
CREATE UNIQUE INDEX agents_email ON agents (lower(email));
CREATE INDEX agents_site ON agents (site_id);

CREATE TABLE visitors (
    id           TEXT PRIMARY KEY,
    site_id      TEXT NOT NULL,
    user_id      TEXT,
    name         TEXT,
    email        TEXT,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
) WITHOUT ROWID;
-- A verified site user is one visitor per site (anonymous visitors have no user_id).
CREATE UNIQUE INDEX visitors_site_user ON visitors (site_id, user_id) WHERE user_id IS NOT NULL;

-- The key makes an identical event (same visitor, millisecond, kind and url) one row,
-- exactly like the ScyllaDB table's primary key does.
CREATE TABLE visitor_events (
    visitor_id TEXT NOT NULL,
    at         INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    url        TEXT NOT NULL,
    title      TEXT NOT NULL,
    PRIMARY KEY (visitor_id, at, kind, url)
) WITHOUT ROWID;

CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    site_id          TEXT NOT NULL,
    visitor_id       TEXT NOT NULL,
    status           TEXT NOT NULL,
    assignee         TEXT,
    created_at       INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL,
    snoozed_until    INTEGER,
    last_seq         INTEGER NOT NULL,
    visitor_read_seq INTEGER NOT NULL,
    agent_read_seq   INTEGER NOT NULL
) WITHOUT ROWID;
-- The agent inbox: one site, one status, most recent activity first.
CREATE INDEX conversations_inbox
    ON conversations (site_id, status, last_activity_at DESC, id DESC);
-- A visitor's history in the widget, newest first.
CREATE INDEX conversations_visitor ON conversations (visitor_id, created_at DESC, id DESC);

-- Messages cluster by conversation, in seq order, so history pages are range scans.
CREATE TABLE messages (
    conversation_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    client_msg_id   TEXT,
    author          TEXT NOT NULL,
    body            TEXT NOT NULL,
    at              INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;
-- A client retrying a send with the same id must not create a second message.
CREATE UNIQUE INDEX messages_client_msg_id
    ON messages (conversation_id, client_msg_id) WHERE client_msg_id IS NOT NULL;
