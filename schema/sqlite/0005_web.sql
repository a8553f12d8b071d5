-- Switchboard SQLite schema, version 5 (issue 12: the widget and console). Every new column has
-- a default, so rows written by older versions read as before.

-- Unread counts only visitor messages: the count after the agents' read cursor, kept by the
-- conversation actor. Existing rows are counted once here.
ALTER TABLE conversations ADD COLUMN agent_unread INTEGER NOT NULL DEFAULT 0;
UPDATE conversations SET agent_unread = (
    SELECT COUNT(*) FROM messages m
    WHERE m.conversation_id = conversations.id
      AND m.seq > conversations.agent_read_seq
      AND json_extract(m.author, '$.kind') = 'visitor');
-- The visitor's language at start (welcome and automatic replies), and the agents' tags (a JSON
-- array of strings, filtered with json_each).
ALTER TABLE conversations ADD COLUMN lang TEXT;
ALTER TABLE conversations ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';

-- A deactivated agent cannot sign in; its picture's version busts caches (0 = none).
ALTER TABLE agents ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
ALTER TABLE agents ADD COLUMN avatar_version INTEGER NOT NULL DEFAULT 0;
CREATE TABLE agent_avatars (
    agent_id     TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    bytes        BLOB NOT NULL,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- The visitor's device, browser and location (JSON, read whole).
ALTER TABLE visitors ADD COLUMN client TEXT;
-- Search by visitor name and email within one site.
CREATE INDEX visitors_site ON visitors (site_id);

-- Every tag a site has used, for suggestions.
CREATE TABLE site_tags (
    site_id TEXT NOT NULL,
    tag     TEXT NOT NULL,
    PRIMARY KEY (site_id, tag)
) WITHOUT ROWID;

-- Full-text search over what visitors and agents wrote. `messages` has no rowid, so each
-- searchable message gets a key row whose id is the row id in a contentless FTS5 index (the
-- text is stored once, in `messages`). Triggers keep both in the same transaction as the
-- message, whoever inserts or deletes it (retention and erasure included).
CREATE TABLE message_search_keys (
    id              INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    UNIQUE (conversation_id, seq)
);
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages
WHEN json_extract(NEW.author, '$.kind') IN ('visitor', 'agent')
BEGIN
    INSERT INTO message_search_keys (conversation_id, seq) VALUES (NEW.conversation_id, NEW.seq);
    INSERT INTO messages_fts (rowid, body) VALUES (last_insert_rowid(), NEW.body);
END;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
BEGIN
    DELETE FROM messages_fts WHERE rowid = (
        SELECT id FROM message_search_keys
        WHERE conversation_id = OLD.conversation_id AND seq = OLD.seq);
    DELETE FROM message_search_keys
    WHERE conversation_id = OLD.conversation_id AND seq = OLD.seq;
END;
INSERT INTO message_search_keys (conversation_id, seq)
    SELECT conversation_id, seq FROM messages
    WHERE json_extract(author, '$.kind') IN ('visitor', 'agent');
INSERT INTO messages_fts (rowid, body)
    SELECT k.id, m.body FROM message_search_keys k
    JOIN messages m ON m.conversation_id = k.conversation_id AND m.seq = k.seq;
