#!/usr/bin/env bash
# What the uv cache mounts hold after building a cell from empty (docs/ci.md, "Pip cache" and "uv cache"):
# the build cache is emptied (so the mount starts empty and every layer installs), one cell is built from its
# rendered Dockerfile, and the mount is measured with du through a throwaway build (bench/uv_cache_du.sh).
# Needs the engine's built-in BuildKit (docker 20.10's CLI with DOCKER_BUILDKIT=1) and the local base images.
#
#   python -m runner render matrix.yaml --out /tmp/render && bash bench/uv_cache_size.sh /tmp/render
set -u
render=${1:?the directory of rendered Dockerfiles}
here=$(dirname "$0")
docker=${DOCKER:-/usr/bin/docker}
build() {  # cell, base image tag
    local started=$(date +%s)
    DOCKER_BUILDKIT=1 "$docker" build -q --build-arg BASE_IMAGE=keras-matrix/base:$2 \
        --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt -t uv-cache-size:$1 \
        -f "$render/$1/Dockerfile" "$render/$1" >/dev/null || return 1
    echo "$1 built in $(( $(date +%s) - started )) s"
}
date -u +%FT%TZ
"$docker" builder prune -af >/dev/null; build keras3.15.1-tf2.21.0-py311-cpu bookworm-minbase; bash "$here/uv_cache_du.sh" 3.11
build keras3.15.1-tf2.21.0-jax0.10.2-py311-cpu bookworm-minbase; bash "$here/uv_cache_du.sh" 3.11
"$docker" builder prune -af >/dev/null; build keras3.15.1-jax0.10.2-py311-cpu bookworm-minbase; bash "$here/uv_cache_du.sh" 3.11
"$docker" builder prune -af >/dev/null; build keras2.9.0-tf2.9.3-py39-cpu bullseye-minbase; bash "$here/uv_cache_du.sh" 3.9
date -u +%FT%TZ
