/* db_datasets.c -- (being written) */
