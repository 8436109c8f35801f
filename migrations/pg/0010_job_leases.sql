-- 0010: who holds a running job (migrations/0010). lease_until is on the database's
-- clock (now()), so that the nodes' own clocks do not matter.
ALTER TABLE jobs ADD COLUMN node TEXT;
ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN lease_until TIMESTAMPTZ;
ALTER TABLE jobs ADD COLUMN dead_attempts INTEGER NOT NULL DEFAULT 0;
