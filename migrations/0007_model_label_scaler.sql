-- 0007_model_label_scaler.sql -- a regression model trained on standardized labels keeps
-- their per-column mean and deviation (float32 little-endian, the means then the
-- deviations), to undo the scaling at prediction. NULL: labels used as they are.

ALTER TABLE models ADD COLUMN label_scaler BLOB;
