#!/usr/bin/env bash
# The docker backend's CI: install the engine from Debian, start it, build the images
# offline (cached), then run the backend contract suite and the gamedays on docker, the
# parity test (every scenario on both backends: same verdict, same reason), and check
# that the run left nothing behind.
#
#   scripts/ci-docker.sh [--stop-engine] [extra pytest args…]   everything; the local
#       gamedays the parity test compares with run beside the docker suites
#   scripts/ci-docker.sh --suites    engine, images, contract suite and docker gamedays only
#       (results kept in $GAMEDAY_CI_DOCKER_RESULTS): .ci/run's docker lane, beside the
#       README's pytest run, which keeps the local gamedays' results
#   scripts/ci-docker.sh --remote-suites   the same on a remote engine: a second dockerd in
#       a network namespace (scripts/remote-engine.sh), reached at DOCKER_HOST=tcp://…; the
#       remote-engine contract tests and the docker gamedays (results kept in
#       $GAMEDAY_CI_REMOTE_RESULTS); the namespace's engine is stopped at the end
#   scripts/ci-docker.sh --check     parity of $GAMEDAY_CI_DOCKER_RESULTS against
#       $GAMEDAY_PARITY_LOCAL_RESULTS (and of $GAMEDAY_CI_REMOTE_RESULTS against the local
#       engine's, when set), then the leftover check of run $GAMEDAY_RUN on both engines
#
# Root is needed (apt-get, dockerd). A dockerd this script starts keeps running afterwards
# (the next run's builds and stacks start faster) unless --stop-engine is given.
# Exit status: pytest's, or 1 when the engine or the images cannot be had.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STOP_ENGINE=0
MODE=all
case "${1:-}" in
    --stop-engine) STOP_ENGINE=1; shift ;;
    --suites) MODE=suites; shift ;;
    --remote-suites) MODE=remote; shift ;;
    --check) MODE=check; shift ;;
esac
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}

log() { printf '[ci-docker] %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# -- 1. the engine and debootstrap, from Debian ------------------------------------------------
t=$(now)
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v nsenter >/dev/null || need+=(util-linux)
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
remote_engine=
if [ "$MODE" = remote ]; then
    # Addresses come from the engine (DOCKER_HOST's host), as Testcontainers finds them.
    unset TESTCONTAINERS_HOST_OVERRIDE
    t=$(now)
    remote_engine=1  # stopped at exit from here on, even if its start fails halfway
    trap 'bash "$ROOT/scripts/remote-engine.sh" stop; stop_engine' EXIT
    remote_env=$(bash "$ROOT/scripts/remote-engine.sh" start) || { log "the remote engine did not start"; exit 1; }
    export "$remote_env"
    log "remote engine ready at $DOCKER_HOST in $(since "$t")s"
else
    export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
fi
export GAMEDAY_REQUIRE_DOCKER=1  # a missing engine or image fails, never skips
# This run's name: every engine resource is labelled with it, so the leftover check below
# counts this run's only (another suite may share the engine). TMPDIR stays shared: the
# stacks of every process on the host reserve their ports through one lock file in it.
# (.ci/run names the run for both of its calls.)
export GAMEDAY_RUN="${GAMEDAY_RUN:-ci-$$-$(date +%s)}"
RUN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/gameday-ci-XXXXXX")
RESULTS="$RUN_TMP/results"
DOCKER_RESULTS="${GAMEDAY_CI_DOCKER_RESULTS:-$RESULTS/docker}"
if [ "$MODE" = remote ]; then
    DOCKER_RESULTS="${GAMEDAY_CI_REMOTE_RESULTS:-$RESULTS/remote}"
fi
LOCAL_RESULTS="${GAMEDAY_PARITY_LOCAL_RESULTS:-$RESULTS/local}"
local_gamedays=
contract_suite=
cleanup_run() {
    [ -n "$local_gamedays" ] && kill "$local_gamedays" 2>/dev/null && wait "$local_gamedays"
    if [ -n "$contract_suite" ]; then  # the subshell and its pytest
        pkill -TERM -P "$contract_suite" 2>/dev/null
        kill "$contract_suite" 2>/dev/null && wait "$contract_suite" 2>/dev/null
    fi
    rm -rf "$RESULTS"
    rmdir "$RUN_TMP" 2>/dev/null || true
    if [ -n "$remote_engine" ]; then
        # Its leftover check first (the namespace's engine goes with the namespace).
        python -m harness.backends.docker.leftovers --run "$GAMEDAY_RUN" >&2 \
            || { log "LEFT BEHIND on the remote engine by run $GAMEDAY_RUN (listed above)"; \
                 remote_left=1; }
        bash "$ROOT/scripts/remote-engine.sh" stop
        remote_engine=
    fi
    stop_engine
}
trap cleanup_run EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
mkdir -p "$RESULTS"
remote_left=0
status=0

if [ "$MODE" = all ]; then
    # The local gamedays, for the parity test, run beside the docker suites (their expected
    # verdicts are the main CI's business; here they are compared with docker's).
    python -m pytest scenarios -m gameday --backend local -q -p no:randomly \
        --basetemp "$RESULTS/pytest-local" --gameday-out "$LOCAL_RESULTS" \
        >"$RESULTS/local-gamedays.log" 2>&1 &
    local_gamedays=$!
fi

# --suites (.ci/run's docker lane): the contract suite runs beside the docker gamedays, and
# the gamedays run 4 at a time (3 in .ci/run). Both mostly wait (stack starts, the gamedays' detection
# windows and holds), so one after the other, two at a time, left the cores idle; measured in
# docs/performance.md ("The docker lane"). The contract suite's output is printed when it
# ends. The other modes (beside the local gamedays, or on the namespace engine) keep the
# suites one after the other, the gamedays two at a time. GAMEDAY_DOCKER_WORKERS overrides.
# Each gameday has its own containers, network and volumes.
lane_started=$(now)
if [ "$MODE" = suites ]; then
    # 4 at a time on an otherwise idle 2-core machine (the cores were 13 % idle at 3, the
    # gamedays' windows and the engine's starts leaving gaps); .ci/run, which runs this lane
    # beside `pytest -n auto`, sets 3.
    WORKERS=${GAMEDAY_DOCKER_WORKERS:-4}
    # Its exit status goes to a file: over a lane the machine's pids wrap around (pid_max
    # 32768, thousands of processes a minute), and bash forgets a background job whose pid
    # a later child reused ("wait: pid N is not a child of this shell", exit 127).
    rm -f "$RESULTS/contract.status"
    ( python -m pytest tests/backends -m docker -q -p no:randomly \
        --basetemp "$RESULTS/pytest-backends" \
        --ignore tests/backends/test_docker_remote_engine.py "$@" >"$RESULTS/contract.log" 2>&1
      echo $? >"$RESULTS/contract.status" ) &
    contract_suite=$!
else
    WORKERS=${GAMEDAY_DOCKER_WORKERS:-2}
fi
if [ "$MODE" = all ]; then
    t=$(now)
    # The remote-engine tests need DOCKER_HOST naming one: the --remote-suites lane's.
    python -m pytest tests/backends -m docker -q -p no:randomly --basetemp "$RESULTS/pytest-backends" \
        --ignore tests/backends/test_docker_remote_engine.py "$@" || status=$?
    log "backend contract suite (docker) in $(since "$t")s: exit $status"
elif [ "$MODE" = remote ]; then
    t=$(now)
    python -m pytest tests/backends/test_docker_remote_engine.py -m docker -q -p no:randomly \
        --basetemp "$RESULTS/pytest-backends" "$@" || status=$?
    log "remote-engine contract tests in $(since "$t")s: exit $status"
fi
if [ "$MODE" != check ]; then
    t=$(now)
    gameday_status=0
    # Through the executor (`gameday run`), not `pytest -m gameday -n N`: the same plan,
    # expectations and checks (exit 1 when a verdict is not the baseline's), each gameday in
    # a child forked from one pre-imported parent instead of N pytest-xdist workers that
    # each start an interpreter, import pytest and the harness and re-parse the runbooks
    # (docs/performance.md, "The docker lane", session 3). results.json in $DOCKER_RESULTS
    # is what the parity test reads.
    python -m harness.cli run --backend docker -q -n "$WORKERS" --out "$DOCKER_RESULTS" \
        || gameday_status=$?
    log "gamedays on docker ($([ "$MODE" = remote ] && echo "remote engine $DOCKER_HOST" || echo "local engine"), -n $WORKERS) in $(since "$t")s: exit $gameday_status"
fi
if [ -n "$contract_suite" ]; then
    wait "$contract_suite" 2>/dev/null || true
    contract_status=$(cat "$RESULTS/contract.status" 2>/dev/null || echo 1)
    [ "$contract_status" = 0 ] || status=$contract_status
    contract_suite=
    cat "$RESULTS/contract.log"
    log "backend contract suite (docker), beside the gamedays: exit $status"
fi
if [ "$MODE" != check ]; then
    [ "$status" = 0 ] && status=$gameday_status
    log "docker lane (contract suite and gamedays) in $(since "$lane_started")s: exit $status"
fi
if [ "$MODE" = suites ]; then
    exit "$status"
fi
if [ "$MODE" = remote ]; then
    cleanup_run
    trap - EXIT
    [ "$remote_left" = 1 ] && [ "$status" = 0 ] && status=1
    [ "$remote_left" = 0 ] && log "leftovers on the remote engine of run $GAMEDAY_RUN: none"
    exit "$status"
fi

# Both backends, same verdict for the same reason, from the two suites' results.
t=$(now)
if [ -n "$local_gamedays" ]; then
    wait "$local_gamedays" || log "local gamedays: exit $? (see the parity test for what differs)"
    local_gamedays=
    tail -3 "$RESULTS/local-gamedays.log" >&2
fi
parity_status=0
# With GAMEDAY_CI_REMOTE_RESULTS (the --remote-suites lane's), the remote engine's verdicts
# are compared with the local engine's too.
GAMEDAY_PARITY_REMOTE_RESULTS="${GAMEDAY_CI_REMOTE_RESULTS:-}" GAMEDAY_REQUIRE_REMOTE_ENGINE="${GAMEDAY_CI_REMOTE_RESULTS:+1}" \
GAMEDAY_PARITY_DOCKER_RESULTS="$DOCKER_RESULTS" GAMEDAY_PARITY_LOCAL_RESULTS="$LOCAL_RESULTS" \
    python -m pytest tests/parity -q -p no:randomly -rA --basetemp "$RESULTS/pytest-parity" "$@" \
    || parity_status=$?
log "parity local vs docker in $(since "$t")s: exit $parity_status"
[ "$status" = 0 ] && status=$parity_status

# Nothing may be left by this run: containers, networks, volumes (labelled with the run),
# egress rules, records of dead stacks, stack temp dirs whose process is gone, host
# processes started for a stack of the run.
if python -m harness.backends.docker.leftovers --run "$GAMEDAY_RUN" >&2; then
    log "leftovers of run $GAMEDAY_RUN: none"
else
    log "LEFT BEHIND by run $GAMEDAY_RUN (listed above)"
    [ "$status" = 0 ] && status=1
fi
exit "$status"
