#!/usr/bin/env bash
# A second Docker engine that is "remote" to the harness: its own network namespace, data
# root and exec root, reached only over TCP at the namespace's address, as CI's
# docker-in-docker service (GitLab's `docker:dind` with DOCKER_HOST=tcp://docker:2375) is.
#
#   host netns                               netns $NS
#   ┌──────────────────────┐  veth pair  ┌───────────────────────────────────────────┐
#   │ harness, docker CLI  │─────────────│ dockerd -H tcp://$NS_ADDR:2375             │
#   │ $HOST_ADDR/30        │             │ $NS_ADDR/30, lo; no default route: nothing │
#   └──────────────────────┘             │ in it reaches beyond the host               │
#                                         └───────────────────────────────────────────┘
#
#   scripts/remote-engine.sh start   create the namespace, start dockerd in it, load the
#                                    offline images from the local engine; prints
#                                    DOCKER_HOST=tcp://… on stdout (eval-able)
#   scripts/remote-engine.sh stop    stop that dockerd, delete the namespace and veth
#                                    (the data root stays: the next start loads no image)
#   scripts/remote-engine.sh env     print DOCKER_HOST=… for a running one
#
# Root is needed. The namespace's dockerd has its own bridge and iptables tables (they live in
# the namespace), so it never conflicts with the host's engine; it runs in the host's mount
# and pid namespaces, which is what `nsenter --net` gives (`ip netns exec` remounts /sys and
# dockerd then fails with "Devices cgroup isn't mounted").
set -euo pipefail

NS=${GAMEDAY_REMOTE_NS:-gameday-engine}
HOST_IF=${GAMEDAY_REMOTE_HOST_IF:-gdeng0}
NS_IF=${GAMEDAY_REMOTE_NS_IF:-gdeng1}
HOST_ADDR=${GAMEDAY_REMOTE_HOST_ADDR:-10.231.0.1}
NS_ADDR=${GAMEDAY_REMOTE_ADDR:-10.231.0.2}
PORT=2375
STATE=${GAMEDAY_REMOTE_STATE:-/var/lib/gameday-remote-engine}
RUNDIR=/run/gameday-remote-engine
PIDFILE=$RUNDIR/dockerd.pid
LOG=$RUNDIR/dockerd.log
# The images the docker backend runs: every tag scripts/build-offline-images.sh makes (the
# chaos layer's defaults and the deployment's postgres:15-alpine); a tag the local engine
# lacks is skipped with a line, and the stack names any image it then misses.
IMAGES=${GAMEDAY_REMOTE_IMAGES:-testgen-copilot:latest postgres:16-alpine postgres:15-alpine redis:7-alpine ghcr.io/shopify/toxiproxy:2.12.0}
REMOTE="tcp://$NS_ADDR:$PORT"

log() { printf '[remote-engine] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
remote() { DOCKER_HOST=$REMOTE docker "$@"; }

running() { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

make_namespace() {
    if ! ip netns list | grep -qw "$NS"; then
        ip netns add "$NS"
    fi
    if ! ip link show "$HOST_IF" >/dev/null 2>&1; then
        ip link add "$HOST_IF" type veth peer name "$NS_IF" netns "$NS"
        ip addr add "$HOST_ADDR/30" dev "$HOST_IF"
        ip -n "$NS" addr add "$NS_ADDR/30" dev "$NS_IF"
    fi
    ip link set "$HOST_IF" up
    ip -n "$NS" link set lo up
    ip -n "$NS" link set "$NS_IF" up
}

start_dockerd() {
    mkdir -p "$RUNDIR" "$STATE/data" "$STATE/exec"
    # Its own bridge addresses and containerd (under the exec root): nothing shared with the
    # host's engine but the kernel. On cgroup v1 (cgroupfs driver) its containers also get a
    # cgroup parent of their own, so their CPU can be read apart (scripts/engine-cpu.py); a
    # systemd cgroup driver would want a .slice there, so it is left out elsewhere.
    local cgroup=()
    [ -d /sys/fs/cgroup/cpuacct ] && cgroup=(--cgroup-parent gameday-remote-engine)
    setsid nsenter --net="/var/run/netns/$NS" dockerd \
        --data-root "$STATE/data" --exec-root "$STATE/exec" --pidfile "$PIDFILE" \
        -H "tcp://$NS_ADDR:$PORT" --tls=false \
        --bip 172.30.0.1/24 --default-address-pool base=172.31.0.0/16,size=24 \
        "${cgroup[@]}" >"$LOG" 2>&1 </dev/null &
    for _ in $(seq 1 120); do
        remote info >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    tail -20 "$LOG" >&2
    die "the namespace's dockerd did not answer at $REMOTE"
}

load_images() {
    local missing=()
    for image in $IMAGES; do
        local want have
        if ! want=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null); then
            log "image $image is not in the local engine: not loaded (scripts/build-offline-images.sh)"
            continue
        fi
        have=$(remote image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
        [ "$want" = "$have" ] || missing+=("$image")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "images: already in the remote engine"
        return
    fi
    local t
    t=$(now)
    # One stream: the images share their base layer, which is sent once.
    docker save "${missing[@]}" | remote load -q >/dev/null
    log "images loaded in $(since "$t")s: ${missing[*]}"
}

case "${1:-}" in
start)
    command -v ip >/dev/null || die "ip not found (apt-get install iproute2)"
    command -v nsenter >/dev/null || die "nsenter not found (apt-get install util-linux)"
    command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io)"
    t=$(now)
    make_namespace
    if running && remote info >/dev/null 2>&1; then
        log "dockerd in $NS already running (pid $(cat "$PIDFILE"))"
    else
        start_dockerd
        log "dockerd in netns $NS at $REMOTE in $(since "$t")s (pid $(cat "$PIDFILE"))"
    fi
    load_images
    echo "DOCKER_HOST=$REMOTE"
    ;;
stop)
    if running; then
        pid=$(cat "$PIDFILE")
        kill -TERM "$pid"
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && { log "dockerd $pid did not stop: SIGKILL"; kill -KILL "$pid"; }
        log "dockerd $pid stopped"
    fi
    ip link del "$HOST_IF" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    ;;
env)
    running || die "no dockerd runs in $NS (scripts/remote-engine.sh start)"
    echo "DOCKER_HOST=$REMOTE"
    ;;
*)
    echo "usage: $0 start|stop|env" >&2
    exit 2
    ;;
esac
