-- The hub's own keys: one row, made on first start. The database file is
-- created 0600 because of them.
CREATE TABLE hub_keys (
    id                 INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    -- X25519 secret: stations seal packets to its public half (HPKE).
    hpke_secret        BLOB NOT NULL CHECK (length(hpke_secret) = 32),
    -- Ed25519 seed of the key that signs receipts.
    receipt_seed       BLOB NOT NULL CHECK (length(receipt_seed) = 32),
    created_at_unix_ms INTEGER NOT NULL
) STRICT;

-- One-time onboarding tokens. Only their SHA-256 is kept: the tokens are
-- 256-bit random values, so a fast hash is enough to make a stolen
-- database useless for registering.
CREATE TABLE onboarding_tokens (
    token_sha256       BLOB PRIMARY KEY NOT NULL CHECK (length(token_sha256) = 32),
    created_at_unix_ms INTEGER NOT NULL,
    expires_at_unix_ms INTEGER NOT NULL,
    used_at_unix_ms    INTEGER,
    -- The station the token registered.
    station_id         TEXT
) STRICT;

CREATE TABLE stations (
    station_id            TEXT PRIMARY KEY NOT NULL,
    public_key            BLOB NOT NULL CHECK (length(public_key) = 32),
    tls_cert_sha256       BLOB CHECK (tls_cert_sha256 IS NULL OR length(tls_cert_sha256) = 32),
    registered_at_unix_ms INTEGER NOT NULL
) STRICT;

-- Every packet received, as received, with the hub's own verdicts and the
-- receipt it answered with, so a repeated upload gets the same bytes back.
CREATE TABLE packets (
    packet_id           TEXT PRIMARY KEY NOT NULL,
    station_id          TEXT NOT NULL REFERENCES stations (station_id),
    sha256              BLOB NOT NULL CHECK (length(sha256) = 32),
    bytes               BLOB NOT NULL,
    created_at_unix_ms  INTEGER NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
    reason              TEXT,
    -- uplink::wire::Reverification as JSON; NULL when the packet did not open.
    reverification      TEXT,
    receipt             BLOB NOT NULL,
    received_at_unix_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX packets_by_received ON packets (received_at_unix_ms);
