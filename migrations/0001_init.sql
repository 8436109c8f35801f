-- 0001_init.sql -- datasets, networks, the job queue with its epochs and checkpoints, models.
-- Float arrays are little-endian float32 BLOBs; structured fields are JSON text.

CREATE TABLE datasets (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    rows        INTEGER NOT NULL,
    features    INTEGER NOT NULL,
    label_kind  TEXT NOT NULL,      -- 'classes' (names), 'indices', 'onehot' or 'values'
    label_cols  INTEGER NOT NULL,   -- columns of y: 1, or the one-hot / value width
    classes     TEXT,               -- JSON array of class names (or indices), NULL for values
    columns     TEXT NOT NULL,      -- JSON array of feature names
    stats       TEXT NOT NULL,      -- JSON array of {"min","mean","max","std"} per feature
    x           BLOB NOT NULL,      -- rows x features
    y           BLOB NOT NULL       -- rows x label_cols
);

CREATE TABLE networks (
    id          TEXT PRIMARY KEY,
    name        TEXT,
    created_at  TEXT NOT NULL,
    definition  TEXT NOT NULL,      -- the definition as posted (JSON)
    summary     TEXT NOT NULL,      -- JSON
    warnings    TEXT NOT NULL       -- JSON array
);

CREATE TABLE jobs (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,   -- queue order
    id          TEXT NOT NULL UNIQUE,
    state       TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','failed','cancelled')),
    request     TEXT NOT NULL,      -- the job as accepted, defaults filled in (JSON)
    network_id  TEXT,               -- when the job named a stored network
    dataset_id  TEXT NOT NULL,
    val_dataset_id TEXT,
    epoch       INTEGER NOT NULL DEFAULT 0,
    epochs      INTEGER NOT NULL,
    progress    REAL NOT NULL DEFAULT 0,
    latest      TEXT,               -- the last epoch's metrics row (JSON)
    eta_seconds REAL,
    error       TEXT,               -- a problem object (JSON) when failed
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
    metrics     TEXT NOT NULL,      -- JSON row: loss, val_loss, metrics, norms, seconds
    PRIMARY KEY (job_id, epoch)
);

CREATE TABLE checkpoints (
    job_id      TEXT PRIMARY KEY,
    epoch       INTEGER NOT NULL,
    net         BLOB NOT NULL,      -- nn_save buffer: weights, optimizer state
    rng         BLOB NOT NULL,      -- the random state after that epoch
    best        BLOB,               -- early stopping: the best epoch's nn_save buffer
    state       TEXT NOT NULL       -- JSON: early-stopping counters, best epoch and value
);

CREATE TABLE models (
    id          TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL,
    name        TEXT,
    created_at  TEXT NOT NULL,
    network     TEXT NOT NULL,      -- the definition (JSON)
    dataset_id  TEXT NOT NULL,
    label_kind  TEXT NOT NULL,
    classes     TEXT,
    metrics     TEXT NOT NULL,      -- final metrics (JSON)
    scaler      BLOB,               -- standardize: per-feature mean then std (float32)
    net         BLOB NOT NULL       -- nn_save buffer
);
