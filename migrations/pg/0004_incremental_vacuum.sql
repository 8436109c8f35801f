-- 0004: nothing on PostgreSQL. On SQLite it turns on the incremental vacuum; PostgreSQL's
-- autovacuum gives the space of deleted rows back by itself.
SELECT 1;
