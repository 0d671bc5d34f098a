#!/usr/bin/env bash
# Creates the Compose FoundationDB database the first time, and only then (the `fdb-init`
# service, in the foundationdb image). Idempotent: run it on every `docker compose up`.
#
#   available                   -> nothing to do, exit 0
#   configuration_never_created -> `configure new single ssd`, then wait until available
#   anything else (recovering, coordinator not up yet) -> wait and look again
#
# The answer is read from fdbcli's text, not its exit status: fdbcli can exit 0 against an
# unreachable coordinator. "The database is available" is matched whole, because
# "The database is unavailable" contains the word "available".
set -u

CLUSTER_FILE="${FDB_CLUSTER_FILE:-/etc/foundationdb/fdb.cluster}"
CONFIGURATION="${FDB_INIT_CONFIGURATION:-single ssd}"
TIMEOUT_S="${FDB_INIT_TIMEOUT_S:-120}"
POLL_S="${FDB_INIT_POLL_S:-2}"
FDBCLI="${FDBCLI:-fdbcli}"

deadline=$((SECONDS + TIMEOUT_S))

fdb() {
    "$FDBCLI" -C "$CLUSTER_FILE" --timeout 10 --exec "$1" 2>&1
}

until [ -s "$CLUSTER_FILE" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "fdb-init: no cluster file at $CLUSTER_FILE after ${TIMEOUT_S} s" >&2
        exit 1
    fi
    sleep "$POLL_S"
done
echo "fdb-init: cluster file $CLUSTER_FILE: $(cat "$CLUSTER_FILE")"

configured=0
while :; do
    if fdb "status minimal" | grep -q "The database is available"; then
        if [ "$configured" -eq 1 ]; then
            echo "fdb-init: created the database ($CONFIGURATION); it is available"
        else
            echo "fdb-init: the database is available; nothing to do"
        fi
        exit 0
    fi
    if [ "$configured" -eq 0 ] && fdb "status json" | grep -q '"configuration_never_created"'; then
        echo "fdb-init: no database yet: configure new $CONFIGURATION"
        out="$(fdb "configure new $CONFIGURATION")"
        echo "$out"
        case "$out" in
            *"Database created"* | *"already exists"*) configured=1 ;;
        esac
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "fdb-init: the database is not available after ${TIMEOUT_S} s:" >&2
        fdb "status" >&2
        exit 1
    fi
    sleep "$POLL_S"
done
