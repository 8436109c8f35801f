-- 0010_job_leases.sql -- who holds a running job, and for how long: the node that
-- claimed it last (--node-id), the attempt number (one more at every claim: the token
-- every write of the trainer is checked against), when its lease ends (seconds since
-- 1970 on the process's clock, renewed while it trains) and how many attempts died (a
-- process that died with the job running, or a lease that lapsed).

ALTER TABLE jobs ADD COLUMN node TEXT;
ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN lease_until REAL;
ALTER TABLE jobs ADD COLUMN dead_attempts INTEGER NOT NULL DEFAULT 0;
