-- chunks: the large values in chunks (nothing changes on SQLite: its
-- migrations/NNNN_chunks.sql is empty).
-- A dataset's x and y, a checkpoint's network, early stopping's best weights and a
-- model's network leave their rows for tables of chunks: BYTEA rows of up to 4 MB each
-- (server/store/pg.c, CHUNK), numbered from 0, so that a value is written and read a chunk
-- at a time -- a 200 MB dataset never travels as one message, nor lies whole in a
-- PGresult beside the arrays it fills. The row keeps the value's size (a dataset's shape,
-- net_bytes), which its chunks must add up to.
--
-- One table of chunks per table that owns them, each chunk's owner a foreign key ON
-- DELETE CASCADE: whatever deletes the row (a dataset or a model deleted, a job's
-- checkpoint dropped when it ends) deletes its chunks in the same statement, and no chunk
-- can outlive its owner. col names the value in its row ('x' or 'y' of a dataset, 'net'
-- elsewhere). Chunked rows rather than large objects: a large object is not deleted with
-- the row that names it (it needs lo_unlink, or a trigger), is outside the tables' own
-- permissions and logical replication, and pg_dump handles it apart; chunks are plain rows.
--
-- The small values stay where they are: a checkpoint's random state (a few hundred bytes)
-- and a model's scalers (two floats per column).
--
-- Existing values move here as their chunk 0, whatever their size. Their columns are
-- emptied before they are dropped, so that autovacuum gives their space back (a dropped
-- column's values stay in the table's rows until each row is written again).

CREATE TABLE dataset_chunks (
    owner   TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    col     TEXT NOT NULL,
    part    INTEGER NOT NULL,
    bytes   BYTEA NOT NULL,
    PRIMARY KEY (owner, col, part)
);
CREATE TABLE checkpoint_chunks (
    owner   TEXT NOT NULL REFERENCES checkpoints (job_id) ON DELETE CASCADE,
    col     TEXT NOT NULL,
    part    INTEGER NOT NULL,
    bytes   BYTEA NOT NULL,
    PRIMARY KEY (owner, col, part)
);
CREATE TABLE checkpoint_best_chunks (
    owner   TEXT NOT NULL REFERENCES checkpoint_best (job_id) ON DELETE CASCADE,
    col     TEXT NOT NULL,
    part    INTEGER NOT NULL,
    bytes   BYTEA NOT NULL,
    PRIMARY KEY (owner, col, part)
);
CREATE TABLE model_chunks (
    owner   TEXT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    col     TEXT NOT NULL,
    part    INTEGER NOT NULL,
    bytes   BYTEA NOT NULL,
    PRIMARY KEY (owner, col, part)
);

-- Chunks are stored as they are, out of line, without compression (STORAGE EXTERNAL):
-- weights and data are floats, which PostgreSQL's compression barely shrinks (3% of a
-- dataset's) while trying it on every chunk written took most of a checkpoint's commit
-- (0.10-0.17 s an epoch for 3.4 MB, against 0.04-0.05 s without).
ALTER TABLE dataset_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;
ALTER TABLE checkpoint_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;
ALTER TABLE checkpoint_best_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;
ALTER TABLE model_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;

INSERT INTO dataset_chunks (owner, col, part, bytes) SELECT id, 'x', 0, x FROM datasets;
INSERT INTO dataset_chunks (owner, col, part, bytes) SELECT id, 'y', 0, y FROM datasets;
ALTER TABLE datasets ALTER COLUMN x DROP NOT NULL, ALTER COLUMN y DROP NOT NULL;
UPDATE datasets SET x = NULL, y = NULL;
ALTER TABLE datasets DROP COLUMN x, DROP COLUMN y;

ALTER TABLE checkpoints ADD COLUMN net_bytes BIGINT;
UPDATE checkpoints SET net_bytes = length(net);
INSERT INTO checkpoint_chunks (owner, col, part, bytes)
    SELECT job_id, 'net', 0, net FROM checkpoints;
ALTER TABLE checkpoints ALTER COLUMN net DROP NOT NULL, ALTER COLUMN net_bytes SET NOT NULL;
UPDATE checkpoints SET net = NULL;
ALTER TABLE checkpoints DROP COLUMN net;

ALTER TABLE checkpoint_best ADD COLUMN net_bytes BIGINT;
UPDATE checkpoint_best SET net_bytes = length(net);
INSERT INTO checkpoint_best_chunks (owner, col, part, bytes)
    SELECT job_id, 'net', 0, net FROM checkpoint_best;
ALTER TABLE checkpoint_best ALTER COLUMN net DROP NOT NULL,
    ALTER COLUMN net_bytes SET NOT NULL;
UPDATE checkpoint_best SET net = NULL;
ALTER TABLE checkpoint_best DROP COLUMN net;

ALTER TABLE models ADD COLUMN net_bytes BIGINT;
UPDATE models SET net_bytes = length(net);
INSERT INTO model_chunks (owner, col, part, bytes) SELECT id, 'net', 0, net FROM models;
ALTER TABLE models ALTER COLUMN net DROP NOT NULL, ALTER COLUMN net_bytes SET NOT NULL;
UPDATE models SET net = NULL;
ALTER TABLE models DROP COLUMN net;
