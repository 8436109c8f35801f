-- 0008: the steps of a dataset of sequences (migrations/0008).
CREATE TABLE dataset_timesteps (
    dataset_id TEXT PRIMARY KEY,
    timesteps  INTEGER NOT NULL
);
