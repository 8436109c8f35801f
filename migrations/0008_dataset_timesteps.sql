-- 0008_dataset_timesteps.sql -- a dataset of sequences has its steps per row here: its x
-- is rows x timesteps x features, time-major, and its features are per step. A dataset
-- without a row here is not a sequence. A table of its own rather than a column of
-- datasets, whose large x and y BLOBs stay its last columns (see 0002).

CREATE TABLE dataset_timesteps (
    dataset_id TEXT PRIMARY KEY,
    timesteps  INTEGER NOT NULL
) WITHOUT ROWID;
