-- Switchboard SQLite schema, version 3: each message records the epoch of the shard lease under
-- which it was written. Fencing already refuses a stale epoch at write time; the column lets
-- anyone check afterwards that epochs never decrease along a conversation's seqs (the
-- cluster fault tests do). 0 = written without a lease (single node, or before version 3).
ALTER TABLE messages ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
