/* csv.c -- (being written) */
