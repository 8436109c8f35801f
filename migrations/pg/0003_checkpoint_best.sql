-- 0003: the best weights of early stopping in a table of their own (migrations/0003).
CREATE TABLE checkpoint_best (
    job_id      TEXT PRIMARY KEY,
    net         BYTEA NOT NULL
);
INSERT INTO checkpoint_best (job_id, net)
    SELECT job_id, best FROM checkpoints WHERE best IS NOT NULL;
ALTER TABLE checkpoints DROP COLUMN best;
DELETE FROM checkpoints
    WHERE job_id IN (SELECT id FROM jobs WHERE state NOT IN ('queued', 'running'));
DELETE FROM checkpoint_best
    WHERE job_id IN (SELECT id FROM jobs WHERE state NOT IN ('queued', 'running'));
