-- 0005: the token that queued a job (migrations/0005).
ALTER TABLE jobs ADD COLUMN owner TEXT;
