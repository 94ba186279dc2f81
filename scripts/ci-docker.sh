#!/usr/bin/env bash
# The docker backend's CI: install the engine from Debian, start it, build the images
# offline (cached), then run the backend contract suite and the gamedays on docker.
#
#   scripts/ci-docker.sh [--stop-engine] [extra pytest args…]
#
# Root is needed (apt-get, dockerd). A dockerd this script starts keeps running afterwards
# (the next run's builds and stacks start faster) unless --stop-engine is given.
# Exit status: pytest's, or 1 when the engine or the images cannot be had.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STOP_ENGINE=0
if [ "${1:-}" = "--stop-engine" ]; then STOP_ENGINE=1; shift; fi
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}

log() { printf '[ci-docker] %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# -- 1. the engine and debootstrap, from Debian ------------------------------------------------
t=$(now)
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v iptables >/dev/null || need+=(iptables)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
log "packages ready in $(since "$t")s"

# -- 2. dockerd ---------------------------------------------------------------------------------------
t=$(now)
started_engine=0
if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (log: $DOCKERD_LOG)"
    setsid nohup dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
    started_engine=$!  # setsid and nohup exec: this is dockerd's pid
    for _ in $(seq 1 120); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
    docker info >/dev/null 2>&1 || { tail -20 "$DOCKERD_LOG" >&2; log "dockerd did not come up"; exit 1; }
fi
log "engine ready in $(since "$t")s ($(docker version -f '{{.Server.Version}}'))"
stop_engine() {
    if [ "$STOP_ENGINE" = 1 ] && [ "$started_engine" != 0 ]; then
        log "stopping the dockerd this script started (pid $started_engine)"
        kill -TERM "$started_engine" 2>/dev/null || true
    fi
}
trap stop_engine EXIT

# -- 3. images (cached: only changed inputs are rebuilt) ------------------------------------------
t=$(now)
bash "$ROOT/scripts/build-offline-images.sh"
log "images ready in $(since "$t")s"

# -- 4. the suites on docker ---------------------------------------------------------------------------
# Ryuk's image cannot be pulled here; the stack reaps its own resources (reaper.py).
export TESTCONTAINERS_RYUK_DISABLED=true
export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
export GAMEDAY_REQUIRE_DOCKER=1  # a missing engine or image fails, never skips
t=$(now)
status=0
python -m pytest tests/backends -m docker -q -p no:randomly "$@" || status=$?
log "backend contract suite (docker) in $(since "$t")s: exit $status"
t=$(now)
gameday_status=0
python -m pytest scenarios -m gameday --backend docker -q "$@" || gameday_status=$?
log "gamedays on docker in $(since "$t")s: exit $gameday_status"
[ "$status" = 0 ] && status=$gameday_status

# Nothing may be left on the engine by the suites.
leftovers=$(docker ps -aq --filter label=gameday.stack | wc -l)
networks=$(docker network ls -q --filter label=gameday.stack | wc -l)
if [ "$leftovers" != 0 ] || [ "$networks" != 0 ]; then
    log "LEFT BEHIND: $leftovers containers, $networks networks labelled gameday.stack"
    docker ps -a --filter label=gameday.stack >&2
    [ "$status" = 0 ] && status=1
fi
exit "$status"
