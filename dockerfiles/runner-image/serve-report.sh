#!/bin/sh
# The report service (docker-compose.yml): serve REPORT_DIR (relative to the checkout, e.g.
# results/<run>/report or reports), else the newest run's report under results/, else the published reports/.
set -eu
cd /srv/keras-matrix
if [ -n "${REPORT_DIR:-}" ]; then
  dir=$REPORT_DIR
else
  # the newest report, by the time its index.html was written
  latest=$(ls -1t results/*/report/index.html 2>/dev/null | head -n 1 || true)
  dir=${latest%/index.html}
  dir=${dir:-reports}
fi
if [ ! -f "$dir/index.html" ]; then
  echo "error: no report in $dir (no index.html). Try: REPORT_DIR=results/<run>/report" >&2
  exit 2
fi
echo "serving $dir on port 8000 (http://127.0.0.1:${KERAS_MATRIX_REPORT_PORT:-8080}/ on the host)"
exec python3 -m http.server 8000 --bind 0.0.0.0 --directory "$dir"
