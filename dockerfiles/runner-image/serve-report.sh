#!/bin/sh
# The report service (docker-compose.yml): serve REPORT_DIR (relative to the checkout, e.g.
# results/<run>/report or reports), else the newest run under results/ as it is at each request (a run under
# way rendered from its results.json), else the published reports/. See serve_report.py.
set -eu
cd /srv/keras-matrix
if [ -n "${REPORT_DIR:-}" ] && [ ! -f "$REPORT_DIR/index.html" ]; then
  echo "error: no report in $REPORT_DIR (no index.html). Try: REPORT_DIR=results/<run>/report" >&2
  exit 2
fi
echo "serving ${REPORT_DIR:-the newest run under results/ (else reports/)} on port 8000" \
     "(http://127.0.0.1:${KERAS_MATRIX_REPORT_PORT:-8080}/ on the host)"
exec python3 /usr/local/lib/keras-matrix/serve_report.py
