-- 0005_job_owner.sql -- who queued a job: the name of its token (NULL when the service
-- asks for none), so that --max-queued-per-token can count one token's queue.

ALTER TABLE jobs ADD COLUMN owner TEXT;
