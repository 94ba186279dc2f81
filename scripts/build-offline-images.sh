#!/usr/bin/env bash
# Build the docker backend's images on a machine that reaches no container registry.
#
#   Debian mirror ──debootstrap──▶ rootfs.tar ──docker import──▶ gameday-debian:<suite>
#   PyPI ──pip wheel (host)──▶ wheels/ ─┐                            │ FROM
#   this checkout's harness/ ──────────┴──▶ Dockerfile ──▶ testgen-copilot:latest
#                                 dockerfiles/postgres/Dockerfile ──▶ postgres:16-alpine
#                                 dockerfiles/redis/Dockerfile    ──▶ redis:7-alpine
#                                 dockerfiles/toxiproxy/Dockerfile ─▶ ghcr.io/shopify/toxiproxy:2.12.0
#
# Images are tagged with the compose file's default names, so no *_IMAGE override is needed.
# The tags stand for the contracts (entrypoint, env, paths, signals), not the upstream builds:
# PostgreSQL and Redis are Debian's, Toxiproxy is the project's own fault proxy.
#
# Nothing inside a build reaches the network: every package comes from the root file system
# or from wheels built here. Slow steps are cached in $GAMEDAY_IMAGE_CACHE (default
# /var/cache/gameday-images) under a hash of their inputs and skipped when the inputs are
# unchanged; Docker's layer cache does the rest.
#
# Usage: scripts/build-offline-images.sh [--force]   (--force: ignore the caches)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${GAMEDAY_IMAGE_CACHE:-/var/cache/gameday-images}
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

# The compose file's defaults: what the stack runs when no *_IMAGE variable is set.
APP_IMAGE=testgen-copilot:latest
POSTGRES_IMAGE=postgres:16-alpine
REDIS_IMAGE=redis:7-alpine
TOXIPROXY_IMAGE=ghcr.io/shopify/toxiproxy:2.12.0

# Everything any image needs, in one root file system (images FROM it share its layer):
# an image build cannot apt-get anything, so the packages must be in the rootfs already.
BASE_PACKAGES=python3,python3-venv,postgresql,postgresql-client,redis-server,redis-tools,procps,curl,ca-certificates

log() { printf '[build-offline-images] %s\n' "$*" >&2; }
die() { printf '[build-offline-images] error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
sha() { sha256sum | cut -c1-16; }

command -v docker >/dev/null || die "docker CLI not found (apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "no Docker engine answers (start dockerd, or run scripts/ci-docker.sh)"
# The classic builder needs no frontend image from a registry (BuildKit's `# syntax=` would).
export DOCKER_BUILDKIT=0

debian_mirror() {
    if [ -n "${GAMEDAY_DEBIAN_MIRROR:-}" ]; then echo "$GAMEDAY_DEBIAN_MIRROR"; return; fi
    local uri
    uri=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [ -z "$uri" ]; then
        uri=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

started=$(now)
mkdir -p "$CACHE"
SUITE=${GAMEDAY_DEBIAN_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
MIRROR=$(debian_mirror)
BASE_IMAGE=gameday-debian:$SUITE

# -- 1. the Debian root file system ------------------------------------------------------
base_key=$(printf '%s\n' "v1" "$SUITE" "$MIRROR" "$BASE_PACKAGES" | sha)
rootfs_tar="$CACHE/rootfs-$SUITE-$base_key.tar"
base_label=$(docker image inspect -f '{{index .Config.Labels "gameday.inputs"}}' "$BASE_IMAGE" 2>/dev/null || true)
t=$(now)
if [ "$FORCE" = 0 ] && [ "$base_label" = "$base_key" ]; then
    log "base $BASE_IMAGE: cached (inputs $base_key)"
else
    if [ "$FORCE" = 1 ] || [ ! -s "$rootfs_tar" ]; then
        command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"
        log "base: debootstrap $SUITE from $MIRROR (a few minutes)"
        work=$(mktemp -d "$CACHE/debootstrap.XXXXXX")
        trap 'rm -rf "$work"' EXIT
        debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$work/rootfs" "$MIRROR" \
            >"$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
        # The package's default cluster and apt's caches are dead weight in every image.
        rm -rf "$work"/rootfs/var/lib/postgresql/*/main "$work"/rootfs/etc/postgresql/*/main \
               "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
        tar --numeric-owner -C "$work/rootfs" -cf "$rootfs_tar.tmp" .
        mv "$rootfs_tar.tmp" "$rootfs_tar"
        rm -rf "$work"
        trap - EXIT
        find "$CACHE" -maxdepth 1 -name "rootfs-*.tar" ! -name "$(basename "$rootfs_tar")" -delete
    else
        log "base: rootfs tar cached, importing"
    fi
    docker import --change "LABEL gameday.inputs=$base_key" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' "$rootfs_tar" "$BASE_IMAGE" >/dev/null
fi
log "base ready in $(since "$t")s"

# -- 2. wheels, built on the host ----------------------------------------------------------
t=$(now)
py_tag=$(python3 -c 'import sys, sysconfig; print(sys.implementation.cache_tag, sysconfig.get_platform())')
wheel_key=$(cat "$ROOT/dockerfiles/app/requirements.txt" <(echo "$py_tag") | sha)
wheels="$CACHE/wheels-$wheel_key"
if [ "$FORCE" = 1 ] || [ ! -f "$wheels/.complete" ]; then
    log "wheels: pip wheel for $py_tag"
    rm -rf "$wheels" && mkdir -p "$wheels"
    python3 -m pip wheel --quiet --wheel-dir "$wheels" --requirement "$ROOT/dockerfiles/app/requirements.txt" \
        >"$CACHE/pip-wheel.log" 2>&1 || { tail -20 "$CACHE/pip-wheel.log" >&2; die "pip wheel failed"; }
    cp "$ROOT/dockerfiles/app/requirements.txt" "$wheels/requirements.txt"
    touch "$wheels/.complete"
    find "$CACHE" -maxdepth 1 -name "wheels-*" ! -name "wheels-$wheel_key" -exec rm -rf {} +
else
    log "wheels: cached (inputs $wheel_key)"
fi
# The harness itself: this checkout's package source (pure Python, so never cached).
stage="$CACHE/context-app"
rm -rf "$stage" && mkdir -p "$stage/wheels"
cp -l "$wheels"/*.whl "$wheels/requirements.txt" "$stage/wheels/" 2>/dev/null \
    || cp "$wheels"/*.whl "$wheels/requirements.txt" "$stage/wheels/"
tar -C "$ROOT" --exclude=__pycache__ --exclude='*.pyc' -cf - harness | tar -C "$stage" -xf -
cp "$ROOT/dockerfiles/app/gameday_asyncio_backport.py" "$stage/"
log "wheels ready in $(since "$t")s"

# -- 3. the images ---------------------------------------------------------------------------
build() {  # build IMAGE DOCKERFILE CONTEXT [build args…]
    local image=$1 dockerfile=$2 context=$3 t
    shift 3
    t=$(now)
    docker build --quiet --force-rm --file "$dockerfile" --tag "$image" \
        --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "APP_IMAGE=$APP_IMAGE" "$@" "$context" \
        >"$CACHE/build-${image//[\/:]/_}.log" 2>&1 \
        || { tail -30 "$CACHE/build-${image//[\/:]/_}.log" >&2; die "building $image failed"; }
    log "$image built in $(since "$t")s"
}
build "$APP_IMAGE" "$ROOT/Dockerfile" "$stage"
build "$POSTGRES_IMAGE" "$ROOT/dockerfiles/postgres/Dockerfile" "$ROOT/dockerfiles/postgres"
build "$REDIS_IMAGE" "$ROOT/dockerfiles/redis/Dockerfile" "$ROOT/dockerfiles/redis"
build "$TOXIPROXY_IMAGE" "$ROOT/dockerfiles/toxiproxy/Dockerfile" "$ROOT/dockerfiles/toxiproxy"
# The TestGen deployment (deployments/testgen-runbook-era) names postgres:15-alpine: the same
# contract (entrypoint, env, paths), so the offline PostgreSQL image answers to that tag too.
docker tag "$POSTGRES_IMAGE" postgres:15-alpine

# Layers the rebuilt images no longer use.
docker image prune --force --filter "label=gameday.image" >/dev/null 2>&1 || true
log "all images ready in $(since "$started")s"
