-- Switchboard SQLite schema, version 2: cluster membership and shard ownership.
-- The store is the cluster's authority (docs/cluster.md). Every node process of a cluster on
-- one host shares this file; the single writer of each process changes these rows inside its
-- BEGIN IMMEDIATE transactions, so every change below is a compare-and-set by construction.

-- One row per node id, holding its current life (incarnation). A peer marks a node dead only
-- if its heartbeat is still the value the peer timed; the node reads that and exits.
CREATE TABLE nodes (
    node_id     TEXT PRIMARY KEY,
    incarnation INTEGER NOT NULL,
    address     TEXT NOT NULL,
    status      TEXT NOT NULL, -- joining | active | leaving | dead
    heartbeat   INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL -- wall time, for people; liveness is timed by observers
) WITHOUT ROWID;

-- One row per shard ever taken. `epoch` rises by one at every take and release and never
-- decreases; every entity write carries (shard, epoch) and is refused unless it matches.
-- `owner` is NULL once released; `successor` is the node it was handed to, which may take it
-- before `lease_until` (the reservation); anyone may take it after.
CREATE TABLE shard_owner (
    shard       INTEGER PRIMARY KEY,
    owner       TEXT,
    incarnation INTEGER NOT NULL,
    epoch       INTEGER NOT NULL,
    lease_until INTEGER NOT NULL,
    successor   TEXT
) WITHOUT ROWID;
