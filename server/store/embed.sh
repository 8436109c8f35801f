#!/bin/sh
# embed.sh -- writes a C file holding migrations/NNNN_*.sql, in order, as strings.
# usage: sh server/store/embed.sh migrations/*.sql > build/migrations.c
echo "/* generated from migrations/ by server/store/embed.sh; do not edit */"
echo "const char *const migrations[] = {"
n=0
for f in $(printf '%s\n' "$@" | sort); do
  n=$((n + 1))
  printf '    /* %s */\n' "$(basename "$f")"
  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/' "$f"
  echo "    ,"
done
echo "};"
echo "const int nmigrations = $n;"
