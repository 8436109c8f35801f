#!/usr/bin/env bash
# layering.sh -- which part of the code may use which, checked on the sources (includes)
# and on the object files (the symbols each one takes from another: nm). Part of make
# check. docs/DESIGN.md draws the same picture.
#
#   core/          the engine: its own headers, the C library and BLAS; nothing of server/
#   server/<m>/    the service's modules, each using only modules before it in LAYERS
#   server/main.c  above them all
# and, besides the order: libmicrohttpd is included only in server/http/, SQLite and
# libpq only in server/store/, and no module includes a header of a module above it.
#
# usage: bash tests/layering.sh [BUILD=build]   (LAYERING_EDGES=1 also lists the links)
set -u
build=${1:-build}
LAYERS=(format config ops store http domain events queue api)
cd "$(dirname "$0")/.." || exit 2
fail=0
bad() { echo "layering: $*"; fail=1; }

rank() {   # rank MODULE -> its place in LAYERS, or nothing
  for i in "${!LAYERS[@]}"; do [ "${LAYERS[$i]}" = "$1" ] && echo "$i" && return; done
}

# ---- includes ----

# the engine includes its own headers and system ones only
while IFS=: read -r file line text; do
  bad "$file:$line: the engine includes $text"
done < <(grep -HnE '#include *("|<)(jansson|sqlite3|libpq|microhttpd|curl/|check)' core/*.c core/*.h;
         grep -HnE '#include *"[^"]*/' core/*.c core/*.h)

# the libraries each stay in their module
while IFS=: read -r file line text; do
  case "$file" in server/http/*) ;; *) bad "$file:$line: only server/http/ includes libmicrohttpd" ;; esac
done < <(grep -rHn '#include *<microhttpd.h>' server)
while IFS=: read -r file line text; do
  case "$file" in server/store/*) ;; *) bad "$file:$line: only server/store/ includes SQLite" ;; esac
done < <(grep -rHn '#include *<sqlite3.h>' server)
while IFS=: read -r file line text; do
  case "$file" in server/store/*) ;; *) bad "$file:$line: only server/store/ includes libpq" ;; esac
done < <(grep -rHn '#include *<libpq-fe.h>' server)

# a module includes its own headers and those of modules before it
for m in "${LAYERS[@]}"; do
  r=$(rank "$m")
  for f in server/"$m"/*.c server/"$m"/*.h; do
    [ -e "$f" ] || continue
    while IFS= read -r inc; do
      dep=${inc%%/*}
      [ "$dep" = "$inc" ] && continue          # its own header, no folder
      [ "$dep" = "$m" ] && continue
      d=$(rank "$dep")
      if [ -z "$d" ]; then
        bad "$f includes $inc, which is no module's"
      elif [ "$d" -ge "$r" ]; then
        bad "$f includes $inc: $m may use only modules before it (${LAYERS[*]})"
      fi
    done < <(sed -nE 's/^#include "([^"]+)".*/\1/p' "$f")
  done
done

# ---- symbols: who defines what, who takes it ----

objs=()
for m in "${LAYERS[@]}"; do
  for o in "$build"/server/"$m"/*.o; do [ -e "$o" ] && objs+=("$o"); done
done
core_objs=("$build"/core/*.o)
if [ "${#objs[@]}" -eq 0 ] || [ ! -e "${core_objs[0]}" ]; then
  bad "no object files under $build/server/ and $build/core/ (build them first)"
  exit 1
fi

module_of() {   # module of an object file: its folder under server/, or core
  case "$1" in
    */core/*) echo core ;;
    */server/main.o) echo main ;;
    *) local d=${1%/*}; echo "${d##*/}" ;;
  esac
}

defs=$(mktemp)
trap 'rm -f "$defs"' EXIT
for o in "${objs[@]}" "${core_objs[@]}"; do
  m=$(module_of "$o")
  nm --defined-only -g "$o" | awk -v m="$m" '$2 ~ /^[TDBRVWC]$/ { print $3, m }'
done | sort -u > "$defs"

edges=""
for o in "${objs[@]}" "${core_objs[@]}"; do
  m=$(module_of "$o")
  while read -r sym dep; do
    [ "$dep" = "$m" ] && continue
    edges+="$m $dep $sym ${o#$build/}"$'\n'
    if [ "$m" = core ]; then
      bad "${o#$build/} ($m) uses $sym of $dep: the engine uses nothing of the service"
    elif [ "$dep" != core ]; then
      r=$(rank "$m"); d=$(rank "$dep")
      [ "$d" -ge "$r" ] && bad "${o#$build/} ($m) uses $sym of $dep: $m may use only modules before it"
    fi
  done < <(nm --undefined-only "$o" | awk '{ print $NF }' | sort -u | join - "$defs")
done

if [ "$fail" -ne 0 ]; then
  echo "layering: see docs/DESIGN.md for the modules and their order"
  exit 1
fi
n=$(printf '%s' "$edges" | awk '{ print $1, $2 }' | sort -u | wc -l)
if [ -n "${LAYERING_EDGES:-}" ]; then   # the links, for docs/DESIGN.md's picture
  printf '%s' "$edges" | awk '{ print $1, "->", $2 }' | sort -u
fi
echo "layering: core and ${#LAYERS[@]} modules, $n module-to-module links, all pointing down"
