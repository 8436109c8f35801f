#!/usr/bin/env bash
# image.sh -- builds the neurond image (make image): the Debian base first when it is the
# local one and missing (docker/base.sh), then docker/Dockerfile from the repository root.
# environment: IMAGE (default neurond:latest), BASE (default neurond-base:bookworm; a
# registry's debian:bookworm-slim works the same), ENGINE (podman or docker)
set -euo pipefail
cd "$(dirname "$0")/.."
. docker/engine.sh
image=${IMAGE:-neurond:latest}
base=${BASE:-neurond-base:bookworm}

if [ "$base" = neurond-base:bookworm ] &&
   ! "$ENGINE" "${ENGINE_OPTS[@]}" image inspect "$base" >/dev/null 2>&1; then
  ENGINE=$ENGINE bash docker/base.sh "$base"
fi
# podman writes OCI images by default, which have no HEALTHCHECK: ask for docker's format
format=()
[ "$ENGINE" = podman ] && format=(--format docker)
start=$(date +%s)
"$ENGINE" "${ENGINE_OPTS[@]}" build "${format[@]}" --build-arg "BASE=$base" \
  -f docker/Dockerfile -t "$image" .
echo "image.sh: built $image in $(($(date +%s) - start)) s"
"$ENGINE" "${ENGINE_OPTS[@]}" image ls "$image"
