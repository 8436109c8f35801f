-- 0006: a model's input columns (migrations/0006).
ALTER TABLE models ADD COLUMN columns TEXT;
UPDATE models SET columns = (SELECT d.columns FROM datasets d WHERE d.id = models.dataset_id);
