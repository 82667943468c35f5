# The runner's own image, for docker-compose.yml (which builds it with dockerfiles/ as the context). Not a
# cell template (those end in .Dockerfile.j2). Dependencies come from Debian's packages: no pip, so no CA
# bundle is needed at build time. The code is NOT copied in: compose mounts the checkout at /keras-matrix,
# and the runner names the paths it gives the host's engine for bind mounts (probe scripts, MNIST) by the
# checkout's host path, which the runner's entrypoint asks the engine for. Only the entrypoints are: the
# runner's (finds and checks that path) and the report server's (picks the newest run at each request).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-docker python3-yaml python3-jinja2 \
      python3-tabulate python3-packaging python3-numpy python3-jsonschema python3-rich python3-shtab python3-wcwidth \
      python3-requests python3-markupsafe python3-pip docker.io debootstrap git ca-certificates tar \
 && rm -rf /var/lib/apt/lists/*
COPY runner-image/entrypoint.sh /usr/local/bin/keras-matrix-entrypoint
COPY runner-image/serve-report.sh /usr/local/bin/keras-matrix-serve-report
COPY runner-image/serve_report.py /usr/local/lib/keras-matrix/serve_report.py
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
LABEL org.keras-matrix.image="runner"
