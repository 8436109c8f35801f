/* spec_json.c -- (being written) */
