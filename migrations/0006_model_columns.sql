-- 0006_model_columns.sql -- a model keeps the names of its input columns, in order (JSON
-- array), so that a CSV header sent to predict is matched to them and an export names
-- them. A model from before takes its training dataset's names, when that still exists.

ALTER TABLE models ADD COLUMN columns TEXT;
UPDATE models SET columns = (SELECT d.columns FROM datasets d WHERE d.id = models.dataset_id);
