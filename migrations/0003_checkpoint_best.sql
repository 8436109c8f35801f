-- 0003_checkpoint_best.sql -- early stopping's best weights get a table of their own, so
-- that an epoch's checkpoint rewrites them only when they change (SQLite rewrites a whole
-- row, BLOBs included, on every update); and a job that has ended keeps no checkpoint:
-- its model holds what it trained.

CREATE TABLE checkpoint_best (
    job_id      TEXT PRIMARY KEY,
    net         BLOB NOT NULL       -- nn_save buffer of the best epoch so far
);
INSERT INTO checkpoint_best (job_id, net)
    SELECT job_id, best FROM checkpoints WHERE best IS NOT NULL;
ALTER TABLE checkpoints DROP COLUMN best;
DELETE FROM checkpoints
    WHERE job_id IN (SELECT id FROM jobs WHERE state NOT IN ('queued', 'running'));
DELETE FROM checkpoint_best
    WHERE job_id IN (SELECT id FROM jobs WHERE state NOT IN ('queued', 'running'));
