-- 0009_model_names.sql -- models by name and version. A job's `model_name` names the
-- model it leaves, which becomes that name's next version (1, 2, ...); an alias
-- (`production`) points at one version of a name. The models' old `name` column held
-- the job's name, and keeps it as `job_name`: models from before have no name and no
-- version.

ALTER TABLE models RENAME COLUMN name TO job_name;
ALTER TABLE models ADD COLUMN name TEXT;
ALTER TABLE models ADD COLUMN version INTEGER;
-- two models never share a name and a version (unnamed models, NULL, are not compared)
CREATE UNIQUE INDEX models_name_version ON models (name, version);

-- every name a model was stored under, with the last version given out: versions count
-- on from it, so that a deleted version's number never comes back with other weights
CREATE TABLE model_names (
    name        TEXT PRIMARY KEY,
    versions    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE model_aliases (
    name        TEXT NOT NULL,
    alias       TEXT NOT NULL,
    version     INTEGER NOT NULL,   -- a version of name that exists: deleting it is refused
    PRIMARY KEY (name, alias)
) WITHOUT ROWID;
