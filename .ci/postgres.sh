#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: Debian's package, listening only on 127.0.0.1,
# its data directory in a temp folder that `stop` removes.
#
#   .ci/postgres.sh start   # installs the server if missing, starts it; prints its URL (last line)
#   .ci/postgres.sh url     # prints the URL of the running server, or exits 1
#   .ci/postgres.sh stop    # stops it and removes the temp folder; always exits 0
#
# `start` is idempotent: when the server is already up it prints the URL again. The temp folder
# is remembered in ${TMPDIR:-/tmp}/ctmaint-pg.current (CTMAINT_PG_STATE overrides the path).
# As root (CI) the server runs as the `postgres` OS user; as anyone else, as that user.
# The role may create databases and roles (the tests make roles with schemas of their own).
# Authentication is `trust` for the unix socket and 127.0.0.1; CTMAINT_PG_HOST_AUTH=scram-sha-256
# makes TCP connections check the password instead.
set -uo pipefail

ROLE=ctmaint
PASSWORD=ctmaint-test-pw
DATABASE=ctmaint
FIRST_PORT=55432
TIMEOUT=60
STATE="${CTMAINT_PG_STATE:-${TMPDIR:-/tmp}/ctmaint-pg.current}"
HOST_AUTH="${CTMAINT_PG_HOST_AUTH:-trust}"

say() { echo "postgres.sh: $*" >&2; }
die() {
    say "$*"
    exit 1
}

# Runs a command as the server's OS user, from a folder that user can read.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        if command -v runuser >/dev/null; then
            (cd / && runuser -u postgres -- "$@")
        else
            (cd / && su postgres -s /bin/bash -c "$(printf '%q ' "$@")")
        fi
    else
        "$@"
    fi
}

bindir() {
    local found
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$found" ] && [ -x "$found/initdb" ] && echo "$found"
}

install_server() {
    [ "$(id -u)" -eq 0 ] ||
        die "no PostgreSQL under /usr/lib/postgresql: as root, apt-get install postgresql"
    say "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    local install=(apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confold)
    # Without this, the package creates and starts a `main` cluster on 5432 that nothing stops.
    if ! "${install[@]}" postgresql-common >&2; then
        apt-get update >&2 || die "apt-get update failed"
        "${install[@]}" postgresql-common >&2 || die "apt-get install postgresql-common failed"
    fi
    local conf=/etc/postgresql-common/createcluster.conf
    if [ -f "$conf" ]; then
        sed -ri 's/^#? *create_main_cluster *=.*/create_main_cluster = false/' "$conf"
    fi
    if ! "${install[@]}" postgresql >&2; then
        apt-get update >&2 || die "apt-get update failed"
        "${install[@]}" postgresql >&2 || die "apt-get install postgresql failed"
    fi
}

# The first port from FIRST_PORT upward that 127.0.0.1 can bind, skipping any already tried.
free_port() {
    local after="${1:-0}" python
    python="$(command -v python3 || command -v python3.11 || true)"
    if [ -n "$python" ]; then
        "$python" - "$FIRST_PORT" "$after" <<'EOF'
import socket
import sys

first, after = int(sys.argv[1]), int(sys.argv[2])
for port in range(max(first, after + 1), 65536):
    with socket.socket() as probe:
        # As the server does: a port left in TIME_WAIT by an earlier server is free to it.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(port)
        break
else:
    sys.exit("no free port")
EOF
    else
        local port
        for ((port = (after >= FIRST_PORT ? after + 1 : FIRST_PORT); port < 65536; port++)); do
            if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                echo "$port"
                return 0
            fi
        done
        return 1
    fi
}

url_of() { echo "postgresql://$ROLE:$PASSWORD@127.0.0.1:$1/$DATABASE"; }

# The folder of the running server (from the state file), or nothing.
current() {
    local dir
    [ -f "$STATE" ] || return 1
    dir="$(head -n 1 "$STATE")"
    [ -n "$dir" ] && [ -d "$dir" ] && [ -f "$dir/port" ] && echo "$dir"
}

running() {
    local dir="$1" bin
    bin="$(bindir)" || return 1
    [ -f "$dir/data/postmaster.pid" ] &&
        "$bin/pg_isready" -q -h 127.0.0.1 -p "$(cat "$dir/port")" -d postgres -t 5
}

cmd_url() {
    local dir
    dir="$(current)" && running "$dir" || {
        say "no server is running (start one with .ci/postgres.sh start)"
        exit 1
    }
    url_of "$(cat "$dir/port")"
}

# A temp folder the server's OS user owns, short enough for the socket path (about 100 bytes).
make_folder() {
    local base dir
    for base in "${TMPDIR:-/tmp}" /tmp; do
        [ "${#base}" -le 60 ] || continue
        dir="$(mktemp -d "$base/ctmaint-pg.XXXXXX")" || continue
        if [ "$(id -u)" -eq 0 ]; then
            chown postgres: "$dir"
        fi
        if as_pg test -w "$dir"; then
            echo "$dir"
            return 0
        fi
        rm -rf "$dir"
    done
    die "cannot make a temp folder the postgres user can write (TMPDIR=${TMPDIR:-})"
}

cmd_start() {
    local dir bin port attempt started=0 waited=0
    if dir="$(current)"; then
        if running "$dir"; then
            url_of "$(cat "$dir/port")"
            return 0
        fi
        say "the server in $dir is not running; starting a new one"
        cmd_stop
    fi
    if ! bin="$(bindir)"; then
        install_server
        bin="$(bindir)" || die "no initdb under /usr/lib/postgresql/*/bin after installing"
    fi
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        die "there is no postgres OS user to run the server as"
    fi
    dir="$(make_folder)" || exit 1
    echo "$dir" >"$STATE"
    as_pg mkdir -m 700 "$dir/sock"

    if ! as_pg "$bin/initdb" -D "$dir/data" -U postgres \
        --auth-local=trust --auth-host="$HOST_AUTH" --encoding=UTF8 --no-locale --no-sync \
        >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        cmd_stop
        die "initdb failed"
    fi
    # Only the unix socket and 127.0.0.1 get in (initdb's file also lets in ::1 and replication).
    printf '%s\n' 'local all all trust' "host all all 127.0.0.1/32 $HOST_AUTH" |
        as_pg tee "$dir/data/pg_hba.conf" >/dev/null
    # Nothing but 127.0.0.1 and a socket in the temp folder; a throwaway server, so durability
    # across an OS crash is not worth the fsyncs (a killed client still loses nothing).
    printf '%s\n' "listen_addresses = '127.0.0.1'" "unix_socket_directories = '$dir/sock'" \
        'fsync = off' 'synchronous_commit = off' 'full_page_writes = off' 'max_connections = 200' |
        as_pg tee -a "$dir/data/postgresql.conf" >/dev/null

    port=0
    for attempt in 1 2 3 4 5; do
        port="$(free_port "$port")" || die "no free port from $FIRST_PORT upward"
        echo "$port" >"$dir/port"
        if as_pg "$bin/pg_ctl" start -D "$dir/data" -l "$dir/server.log" -w -t "$TIMEOUT" \
            -o "-p $port" >/dev/null; then
            started=1
            break
        fi
        say "the server did not start on port $port (attempt $attempt)"
    done
    if [ "$started" -ne 1 ]; then
        tail -n 20 "$dir/server.log" >&2
        cmd_stop
        die "the server did not start"
    fi
    until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres -t 1; do
        if [ "$waited" -ge "$TIMEOUT" ]; then
            tail -n 20 "$dir/server.log" >&2
            cmd_stop
            die "the server did not accept connections within ${TIMEOUT}s"
        fi
        sleep 1
        waited=$((waited + 1))
    done

    if ! as_pg "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/sock" -p "$port" -U postgres \
        -d postgres \
        -c "CREATE ROLE $ROLE LOGIN CREATEDB CREATEROLE PASSWORD '$PASSWORD'" \
        -c "CREATE DATABASE $DATABASE OWNER $ROLE" >&2; then
        cmd_stop
        die "could not create the role and database"
    fi
    say "PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir"
    url_of "$port"
}

cmd_stop() {
    local dir bin
    [ -f "$STATE" ] || return 0
    dir="$(head -n 1 "$STATE")"
    if [ -n "$dir" ] && [ -d "$dir" ]; then
        if [ -f "$dir/data/postmaster.pid" ]; then
            bin="$(bindir)"
            if [ -z "$bin" ] || ! as_pg "$bin/pg_ctl" stop -D "$dir/data" -m fast -w -t 30 \
                >/dev/null 2>&1; then
                # pg_ctl could not stop it: end the postmaster (the file's first line), if that
                # pid is still a postgres process and not one that reused a dead server's pid.
                local pid waited=0
                pid="$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null)"
                case "$pid" in
                '' | *[!0-9]*) ;;
                *)
                    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ]; then
                        kill -QUIT "$pid" 2>/dev/null
                        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 10 ]; do
                            sleep 0.5
                            waited=$((waited + 1))
                        done
                    fi
                    ;;
                esac
            fi
        fi
        case "$dir" in
        */ctmaint-pg.*) rm -rf "$dir" ;;
        *) say "not removing $dir: not a folder this script made" ;;
        esac
    fi
    rm -f "$STATE"
    return 0
}

case "${1:-}" in
start) cmd_start ;;
stop)
    cmd_stop
    exit 0
    ;;
url) cmd_url ;;
*)
    echo "usage: $0 start|stop|url" >&2
    exit 2
    ;;
esac
