#!/bin/sh
# The runner service's entrypoint (docker-compose.yml). Compose mounts the checkout (`.`, the compose file's
# directory, wherever compose is started from) at /keras-matrix. The runner asks the HOST's engine for bind
# mounts of paths inside it, so it must know the checkout's host path: this asks the engine what is mounted
# at /keras-matrix in this container, and hands it on as KERAS_MATRIX_HOST_ROOT (runner.engine.docker.host_path
# names mount sources by it). A KERAS_MATRIX_HOST_ROOT set by hand must be that path; one that names another
# directory is refused (exit 2), as is an engine that cannot say, with what to set.
set -eu
mounted=/keras-matrix
source=$(docker inspect --format "{{range .Mounts}}{{if eq .Destination \"$mounted\"}}{{.Source}}{{end}}{{end}}" \
         "$(hostname)" 2>/dev/null || true)
root=${KERAS_MATRIX_HOST_ROOT:-$source}
if [ -z "$root" ] || { [ -n "$source" ] && [ "$source" != "$root" ]; }; then
  echo "error: KERAS_MATRIX_HOST_ROOT must be the checkout's absolute path on the host${source:+ ($source)}," \
       "not '${KERAS_MATRIX_HOST_ROOT:-}'. Try: ${source:+unset KERAS_MATRIX_HOST_ROOT, or }export" \
       "KERAS_MATRIX_HOST_ROOT=${source:-/path/to/keras-matrix}" >&2
  exit 2
fi
export KERAS_MATRIX_HOST_ROOT="$root" KERAS_MATRIX_MOUNTED_ROOT="$mounted"
cd "$mounted"
exec python3 -m runner "$@"
