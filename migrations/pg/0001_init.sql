-- 0001: the first schema, on PostgreSQL (migrations/0001_init.sql on SQLite). Ids and
-- times are text as on SQLite (times in RFC 3339 UTC, which sort as text), JSON documents
-- text, arrays and buffers BYTEA. The tables SQLite orders by rowid have a seq here.

CREATE TABLE datasets (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    rows        INTEGER NOT NULL,
    features    INTEGER NOT NULL,
    label_kind  TEXT NOT NULL,
    label_cols  INTEGER NOT NULL,
    classes     TEXT,
    columns     TEXT NOT NULL,
    stats       TEXT NOT NULL,
    x           BYTEA NOT NULL,
    y           BYTEA NOT NULL
);

CREATE TABLE networks (
    seq         BIGSERIAL UNIQUE,   -- the order they were stored in
    id          TEXT PRIMARY KEY,
    name        TEXT,
    created_at  TEXT NOT NULL,
    definition  TEXT NOT NULL,
    summary     TEXT NOT NULL,
    warnings    TEXT NOT NULL
);

CREATE TABLE jobs (
    seq         BIGSERIAL PRIMARY KEY,   -- queue order
    id          TEXT NOT NULL UNIQUE,
    state       TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','failed','cancelled')),
    request     TEXT NOT NULL,
    network_id  TEXT,
    dataset_id  TEXT NOT NULL,
    val_dataset_id TEXT,
    epoch       INTEGER NOT NULL DEFAULT 0,
    epochs      INTEGER NOT NULL,
    progress    DOUBLE PRECISION NOT NULL DEFAULT 0,
    latest      TEXT,
    eta_seconds DOUBLE PRECISION,
    error       TEXT,
    model_id    TEXT,
    cancel      INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT
);
CREATE INDEX jobs_state ON jobs (state, seq);
CREATE INDEX jobs_dataset ON jobs (dataset_id, state);

CREATE TABLE epochs (
    job_id      TEXT NOT NULL,
    epoch       INTEGER NOT NULL,
    metrics     TEXT NOT NULL,
    PRIMARY KEY (job_id, epoch)
);

CREATE TABLE checkpoints (
    job_id      TEXT PRIMARY KEY,
    epoch       INTEGER NOT NULL,
    net         BYTEA NOT NULL,
    rng         BYTEA NOT NULL,
    best        BYTEA,
    state       TEXT NOT NULL
);

CREATE TABLE models (
    seq         BIGSERIAL UNIQUE,   -- the order they were stored in
    id          TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL,
    name        TEXT,
    created_at  TEXT NOT NULL,
    network     TEXT NOT NULL,
    dataset_id  TEXT NOT NULL,
    label_kind  TEXT NOT NULL,
    classes     TEXT,
    metrics     TEXT NOT NULL,
    scaler      BYTEA,
    net         BYTEA NOT NULL
);
