#!/usr/bin/env bash
# Make sure a Docker engine with BuildKit, debootstrap and docker-compose are here and running.
# Idempotent: does nothing that is already done. Used by .ci/run and by developers on a fresh machine.
set -euo pipefail

need_apt=()
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "ensure-docker: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
  echo "ensure-docker: engine already running"
else
  echo "ensure-docker: starting dockerd"
  mkdir -p /var/log
  # setsid: the daemon must outlive this script (and the shell that ran it).
  setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then break; fi
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "ensure-docker: dockerd did not start; see /var/log/dockerd.log" >&2; tail -20 /var/log/dockerd.log >&2; exit 1; }
fi
docker version --format 'ensure-docker: client {{.Client.Version}}, server {{.Server.Version}}'
