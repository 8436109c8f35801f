-- 0009: model names, versions and aliases (migrations/0009).
ALTER TABLE models RENAME COLUMN name TO job_name;
ALTER TABLE models ADD COLUMN name TEXT;
ALTER TABLE models ADD COLUMN version INTEGER;
CREATE UNIQUE INDEX models_name_version ON models (name, version);

CREATE TABLE model_names (
    name        TEXT PRIMARY KEY,
    versions    INTEGER NOT NULL
);

CREATE TABLE model_aliases (
    name        TEXT NOT NULL,
    alias       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (name, alias)
);
