-- The search index is filled in batches instead of in every message's commit.
--
-- Until version 7 the insert trigger tokenised each visitor and agent message into
-- `messages_fts` inside the message's own transaction. FTS5 writes a new segment at every
-- commit that added to it, and merges segments as they pile up: with group commits of a few
-- messages each, that flush-and-merge was most of the growth in the writer's page writes per
-- message (docs/benchmarks.md, "The hot path, profiled"). Now the trigger only records the
-- message's search key; the writer indexes the keys above `search_indexed.upto` a few hundred
-- at a time (src/store/sqlite/search_index.rs), and a search first catches the index up, so it
-- still finds everything written before it.
--
-- Key ids come from AUTOINCREMENT: an id at or below `upto` is never handed out again, even
-- after the newest key was deleted, so no key can slip under the indexed mark.
DROP TRIGGER messages_search_insert;
DROP TRIGGER messages_search_delete;
CREATE TABLE message_search_keys_v8 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    UNIQUE (conversation_id, seq)
);
INSERT INTO message_search_keys_v8 (id, conversation_id, seq)
    SELECT id, conversation_id, seq FROM message_search_keys;
DROP TABLE message_search_keys;
ALTER TABLE message_search_keys_v8 RENAME TO message_search_keys;

-- Every key with an id up to `upto` is in `messages_fts`; the ones above wait for the writer.
CREATE TABLE search_indexed (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    upto     INTEGER NOT NULL
);
INSERT INTO search_indexed (only_row, upto)
    SELECT 1, COALESCE(MAX(id), 0) FROM message_search_keys;

CREATE TRIGGER messages_search_insert AFTER INSERT ON messages
WHEN json_extract(NEW.author, '$.kind') IN ('visitor', 'agent')
BEGIN
    INSERT INTO message_search_keys (conversation_id, seq) VALUES (NEW.conversation_id, NEW.seq);
END;
-- A message deleted before it was indexed has nothing in `messages_fts` to delete; its key
-- goes, so the indexer never sees it.
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
BEGIN
    DELETE FROM messages_fts WHERE rowid = (
        SELECT k.id FROM message_search_keys k
        WHERE k.conversation_id = OLD.conversation_id AND k.seq = OLD.seq
          AND k.id <= (SELECT upto FROM search_indexed));
    DELETE FROM message_search_keys
    WHERE conversation_id = OLD.conversation_id AND seq = OLD.seq;
END;
