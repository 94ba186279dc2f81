#!/usr/bin/env bash
# The official postgres image's entrypoint contract, on Debian's binaries:
#   - flags alone mean `postgres FLAGS`;
#   - as root: own $PGDATA, then re-exec as the postgres user;
#   - empty $PGDATA: initdb with POSTGRES_USER/POSTGRES_PASSWORD (POSTGRES_INITDB_ARGS),
#     `host all all all <POSTGRES_HOST_AUTH_METHOD, default scram-sha-256>`, listen on '*',
#     create POSTGRES_DB, run /docker-entrypoint-initdb.d/*.sh|*.sql, then start for real.
# Deliberate differences: the temporary init server listens on a private socket
# directory, so `pg_isready` (the healthcheck) cannot report ready before init is done; and
# where the image holds a cluster initdb'ed at build time for POSTGRES_USER/POSTGRES_DB
# (PG_TEMPLATES in the Dockerfile), an empty $PGDATA is filled by copying it and setting
# this container's password, not by initdb (same cluster, seconds sooner). With
# POSTGRES_INITDB_ARGS or /docker-entrypoint-initdb.d scripts, initdb runs as usual.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

if [ "$1" = 'postgres' ] && [ "$(id -u)" = '0' ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' +
    chmod 700 "$PGDATA"
    chmod 2777 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ "$1" = 'postgres' ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != 'trust' ]; then
        cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
MSG
        exit 1
    fi
    template="/var/lib/postgresql/templates/$user-$db"
    scripts=$(find /docker-entrypoint-initdb.d -mindepth 1 -maxdepth 1 | head -1)
    if [ -z "${PG_TEMPLATE_ONLY:-}" ] && [ -z "${POSTGRES_INITDB_ARGS:-}" ] && [ -z "$scripts" ] \
        && [ -s "$template/PG_VERSION" ]; then
        cp -a "$template/." "$PGDATA/"
        printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
        password=NULL
        if [ -n "${POSTGRES_PASSWORD:-}" ]; then
            password="'$(printf '%s' "$POSTGRES_PASSWORD" | sed "s/'/''/g")'"
        fi
        # A standalone backend runs as the bootstrap superuser, whatever its name.
        postgres --single -j -D "$PGDATA" postgres >/dev/null \
            <<<"ALTER ROLE \"$user\" PASSWORD $password;"
        echo 'PostgreSQL init process complete (from the image'"'"'s template); ready for start up.'
        exec "$@"
    fi
    # shellcheck disable=SC2086 - POSTGRES_INITDB_ARGS is a list of flags
    initdb --username="$user" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
        -D "$PGDATA" ${POSTGRES_INITDB_ARGS:-} ${PG_TEMPLATE_ONLY:+--no-sync}
    printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
    sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "$PGDATA/postgresql.conf"
    init_socket=$(mktemp -d)
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=$init_socket" start
    psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --host "$init_socket" --username "$user")
    if [ "$db" != 'postgres' ]; then
        "${psql[@]}" --dbname postgres --set db="$db" <<<'CREATE DATABASE :"db";'
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh) echo "running $f"; PGHOST=$init_socket PGUSER=$user . "$f" ;;
            *.sql) echo "running $f"; "${psql[@]}" --dbname "$db" -f "$f" ;;
            *) [ -e "$f" ] && echo "ignoring $f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    rm -rf "$init_socket"
    if [ -n "${PG_TEMPLATE_ONLY:-}" ]; then
        # The template keeps the stock pg_hba.conf; each container appends its own line.
        sed -i '$d' "$PGDATA/pg_hba.conf"
        sed -i '$d' "$PGDATA/pg_hba.conf"
        exit 0
    fi
    echo 'PostgreSQL init process complete; ready for start up.'
fi

exec "$@"
