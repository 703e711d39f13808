-- The sealed bytes move out of the outbox rows into their own table.
--
-- SQLite rewrites a whole row when a column changes size, overflow pages
-- included: with the packet inline, every state change of the uploader
-- (queued, uploading, acknowledged) wrote the entire ~300 KB packet to the
-- WAL again, and every read of a column after it walked its overflow
-- chain. Now a state change touches a row of a few hundred bytes, and the
-- packet is written once and deleted once.

CREATE TABLE outbox_payloads (
    packet_id   TEXT PRIMARY KEY NOT NULL REFERENCES outbox (packet_id),
    -- The sealed packet as sent; the row is deleted when it is purged.
    sealed      BLOB NOT NULL
) STRICT;

INSERT INTO outbox_payloads (packet_id, sealed)
    SELECT packet_id, sealed FROM outbox WHERE sealed IS NOT NULL;

ALTER TABLE outbox DROP COLUMN sealed;
