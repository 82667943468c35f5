#!/usr/bin/env bash
# du of the uv cache mount of Python $1, through a throwaway build (the mount lives in BuildKit, not on the host).
# Not --no-cache: with BuildKit 20.10 that also hands the build a fresh, empty cache mount. A changing line instead.
dir=$(mktemp -d)
printf 'FROM keras-matrix/base:bookworm-minbase\nRUN --mount=type=cache,id=keras-matrix-uv-py%s,target=/c echo %s && du -sb /c && du -sb /c/* | sort -n | tail -3\n' $1 $(date +%s%N) > "$dir/Dockerfile"
DOCKER_BUILDKIT=1 ${DOCKER:-/usr/bin/docker} build --progress plain "$dir" 2>&1 | grep -E "^#[0-9]+ [0-9.]+ [0-9]+\s+/c" 
rm -rf "$dir"
