#!/bin/sh
# The runner service's entrypoint (docker-compose.yml). The runner asks the HOST's engine for bind mounts of
# paths inside the checkout, so the checkout must be mounted here at its host path: KERAS_MATRIX_HOST_ROOT.
# Compose mounts the checkout (`.`, the compose file's directory, wherever compose is started from) there;
# this checks, through the engine, that the directory mounted at that path really is that host directory,
# and says what to set when it is not, instead of letting the engine mount the wrong (or an empty) tree.
set -eu
root=${KERAS_MATRIX_HOST_ROOT:-}
target=${root:-/keras-matrix-host-root-unset}
source=$(docker inspect --format "{{range .Mounts}}{{if eq .Destination \"$target\"}}{{.Source}}{{end}}{{end}}" \
         "$(hostname)" 2>/dev/null || true)
if [ -z "$root" ] || { [ -n "$source" ] && [ "$source" != "$root" ]; }; then
  echo "error: KERAS_MATRIX_HOST_ROOT must be the checkout's absolute path on the host${source:+ ($source)}," \
       "not '${root}'. Try: export KERAS_MATRIX_HOST_ROOT=${source:-/path/to/keras-matrix}" \
       "(or put it in .env beside docker-compose.yml and run compose from there)" >&2
  exit 2
fi
cd "$root"
exec python3 -m runner "$@"
