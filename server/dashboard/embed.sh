#!/bin/sh
# embed.sh -- writes a C file holding the dashboard page as one string, so the binary
# serves it with nothing beside it. "@VERSION@" in the page becomes NEUROND_VERSION (config.h);
# "?" is escaped because C11 would read "??(" and its kin in the script as trigraphs.
# usage: sh server/dashboard/embed.sh server/dashboard/index.html > build/dashboard.c
echo "/* generated from $1 by server/dashboard/embed.sh; do not edit */"
echo '#include "config/config.h"'
echo "const char dashboard_html[] ="
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/    "/' -e 's/$/\\n"/' \
    -e 's/@VERSION@/" NEUROND_VERSION "/g' "$1"
echo "    ;"
echo "const size_t dashboard_html_len = sizeof dashboard_html - 1;"
