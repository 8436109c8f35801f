-- 0002_datasets_label_column.sql -- datasets remember which CSV column held the labels, and
-- are listed in order of creation. The table is rebuilt (not altered) so that its large
-- x and y BLOBs stay the last columns: reading a description never walks through them.
-- label_kind is one of 'classes', 'numbers', 'onehot', 'vectors' (server/datasets.h).

CREATE TABLE datasets_v2 (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    rows         INTEGER NOT NULL,
    features     INTEGER NOT NULL,
    label_kind   TEXT NOT NULL,      -- 'classes', 'numbers', 'onehot' or 'vectors'
    label_cols   INTEGER NOT NULL,   -- columns of y: 1, or the one-hot / vector width
    classes      TEXT,               -- JSON array of class names (or numbers), NULL for none
    columns      TEXT NOT NULL,      -- JSON array of feature names
    stats        TEXT NOT NULL,      -- JSON array of {"name","min","mean","max","std"}
    label_column TEXT,               -- JSON: the CSV label column's name or index; NULL
    x            BLOB NOT NULL,      -- rows x features, float32
    y            BLOB NOT NULL       -- rows x label_cols, float32
);
INSERT INTO datasets_v2 (id, name, created_at, rows, features, label_kind, label_cols,
                         classes, columns, stats, label_column, x, y)
    SELECT id, name, created_at, rows, features, label_kind, label_cols, classes, columns,
           stats, NULL, x, y FROM datasets;
DROP TABLE datasets;
ALTER TABLE datasets_v2 RENAME TO datasets;
CREATE INDEX datasets_created ON datasets (created_at, id);
