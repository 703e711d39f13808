-- Users, enrollments, the outbox and the audit chain.
--
-- Times are milliseconds since the Unix epoch (UTC) as INTEGER. Ids are
-- UUIDs as hyphenated lowercase TEXT. No table holds personal data of the
-- people enrolled: only ids, states, times and short reasons. Biometrics
-- reach this file only inside sealed packets, which nobody here can open.

-- Station staff. `password_hash` is an argon2id PHC string, never a password.
CREATE TABLE users (
    id              TEXT PRIMARY KEY NOT NULL,
    -- Lower-cased on the way in, so look-ups need no collation.
    username        TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL CHECK (role IN ('clerk', 'supervisor', 'administrator')),
    password_hash   TEXT NOT NULL,
    disabled        INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    -- Consecutive failed logins since the last success or lock.
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until    INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_login_at   INTEGER
) STRICT;

-- One enrollment's progress; the captured data itself never lands here.
CREATE TABLE enrollments (
    id              TEXT PRIMARY KEY NOT NULL,
    -- `EnrollmentState` in snake_case.
    state           TEXT NOT NULL,
    clerk_id        TEXT NOT NULL REFERENCES users (id),
    supervisor_id   TEXT REFERENCES users (id),
    -- Why it was rejected, by the supervisor or the platform.
    reason          TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX enrollments_by_state ON enrollments (state, created_at);

-- Sealed packets on their way to the platform, one per enrollment.
CREATE TABLE outbox (
    packet_id       TEXT PRIMARY KEY NOT NULL,
    enrollment_id   TEXT NOT NULL UNIQUE REFERENCES enrollments (id),
    station_id      TEXT NOT NULL,
    -- The sealed packet as sent; NULL once purged after acknowledgement.
    sealed          BLOB,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'uploading', 'acknowledged', 'rejected')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at INTEGER NOT NULL,
    receipt         BLOB,
    queued_at       INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    acknowledged_at INTEGER,
    purged_at       INTEGER
) STRICT;

CREATE INDEX outbox_due ON outbox (state, next_attempt_at, queued_at);

-- The hash-chained audit log. `seq` is assigned by the store (last + 1) so
-- a gap is visible; `hash` covers this row's fields and `prev_hash`.
CREATE TABLE audit_log (
    seq             INTEGER PRIMARY KEY NOT NULL,
    at              INTEGER NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    subject         TEXT,
    detail          TEXT NOT NULL,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL
) STRICT;

-- Append-only for the application. Someone with the file can drop these;
-- the hash chain is what detects that.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
