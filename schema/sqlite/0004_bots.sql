-- Switchboard SQLite schema, version 4: bots and agent tools (issue 11).
-- Message extras (citations, quick actions, hand-off reason, attachments, the private flag of
-- an agent's note) as JSON; NULL on a plain chat message and on every row from before.
ALTER TABLE messages ADD COLUMN extra TEXT;

-- Help-centre articles per site; the knowledge-base bot indexes a site's articles whole.
CREATE TABLE articles (
    site_id    TEXT NOT NULL,
    id         TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    url        TEXT NOT NULL,
    language   TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (site_id, id)
) WITHOUT ROWID;

-- A site's bot and LLM settings (JSON); the LLM key apart, as it is never serialised.
CREATE TABLE bot_settings (
    site_id     TEXT PRIMARY KEY,
    bot         TEXT NOT NULL,
    llm         TEXT NOT NULL,
    llm_api_key TEXT
) WITHOUT ROWID;

-- One conversation's ownership (bot, queue, agent), hand-offs and bot memory (JSON).
CREATE TABLE conversation_assist (
    conversation_id TEXT PRIMARY KEY,
    state           TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE canned_replies (
    site_id    TEXT NOT NULL,
    id         TEXT NOT NULL,
    shortcut   TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (site_id, id)
) WITHOUT ROWID;

-- One rating per conversation; listed per site, newest first.
CREATE TABLE csat (
    conversation_id TEXT PRIMARY KEY,
    site_id         TEXT NOT NULL,
    visitor_id      TEXT NOT NULL,
    rating          INTEGER NOT NULL,
    comment         TEXT NOT NULL,
    at              INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX csat_by_site ON csat (site_id, at DESC);

-- Which conversation a blob belongs to (the bytes are in the blob store), and its metadata.
CREATE TABLE attachments (
    blob_id         TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    site_id         TEXT NOT NULL,
    visitor_id      TEXT NOT NULL,
    meta            TEXT NOT NULL
) WITHOUT ROWID;

-- The mail outbox: one row per logical email. `kind` is the state's name and `due_at` the time
-- it matters (a pending entry's next attempt, a sending entry's lease end; NULL once final).
CREATE TABLE mail_outbox (
    key        TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    state      TEXT NOT NULL,
    due_at     INTEGER,
    attempts   INTEGER NOT NULL,
    last_error TEXT
) WITHOUT ROWID;
CREATE INDEX mail_outbox_due ON mail_outbox (kind, due_at);
