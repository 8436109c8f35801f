-- 0002: the CSV label column of a dataset (migrations/0002 on SQLite).
ALTER TABLE datasets ADD COLUMN label_column TEXT;
CREATE INDEX datasets_created ON datasets (created_at, id);
