-- 0007: the labels' scaler of a model (migrations/0007).
ALTER TABLE models ADD COLUMN label_scaler BYTEA;
