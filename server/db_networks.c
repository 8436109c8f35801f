/* db_networks.c -- (being written) */
