#!/bin/sh
# As the official image's entrypoint: flags alone mean `redis-server FLAGS`; as root, drop
# to the redis user. Protected mode is off (the official image patches its default), since
# clients on the stack's network connect without a password.
set -e
case "$1" in
    -*|*.conf) set -- redis-server "$@" ;;
esac
if [ "$1" = "redis-server" ]; then
    case " $* " in
        *" --protected-mode "*) ;;
        *) set -- "$@" --protected-mode no ;;
    esac
    if [ "$(id -u)" = "0" ]; then
        find . \! -user redis -exec chown redis:redis '{}' + 2>/dev/null || true
        exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
    fi
fi
exec "$@"
