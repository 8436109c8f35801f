/* db_models.c -- (being written) */
