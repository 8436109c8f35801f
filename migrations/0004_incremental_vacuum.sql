-- 0004_incremental_vacuum.sql -- deleted data gives its space back: with incremental
-- auto-vacuum, the pages rows leave free can be cut from the end of the file, which the
-- store does after deletes (PRAGMA incremental_vacuum, server/store/db.c) instead of
-- keeping them for later rows. The mode of an existing database changes only when the
-- file is rewritten: VACUUM, which cannot run inside a transaction, so the store runs a
-- migration that holds one outside of it. On a database with data it takes about as long
-- as copying the file, and needs about twice its size free beside it, once.

PRAGMA auto_vacuum = INCREMENTAL;
VACUUM;
