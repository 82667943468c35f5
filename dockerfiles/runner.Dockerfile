# The runner's own image, for docker-compose.yml (which builds it with dockerfiles/ as the context). Not a
# cell template (those end in .Dockerfile.j2). Dependencies come from Debian's packages: no pip, so no CA
# bundle is needed at build time. The code is NOT copied in: compose mounts the checkout at the same path as
# on the host, so the paths the runner gives the host's engine for bind mounts (probe scripts, MNIST, build
# contexts) are valid there. Only the two entrypoints are: the runner's (checks that mount) and the report
# server's.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-docker python3-yaml python3-jinja2 \
      python3-tabulate python3-packaging python3-numpy python3-jsonschema python3-rich python3-shtab python3-wcwidth \
      python3-requests python3-markupsafe python3-pip docker.io debootstrap git ca-certificates tar \
 && rm -rf /var/lib/apt/lists/*
COPY runner-image/entrypoint.sh /usr/local/bin/keras-matrix-entrypoint
COPY runner-image/serve-report.sh /usr/local/bin/keras-matrix-serve-report
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
LABEL org.keras-matrix.image="runner"
