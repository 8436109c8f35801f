/* db_jobs.c -- (being written) */
