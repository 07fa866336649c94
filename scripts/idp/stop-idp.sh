#!/bin/bash
# Stop the IdP started by start-idp.sh (by its pid file only).
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PIDFILE="${IDP_WORK:-$HERE/work/ssp}/php-server.pid"
[ -f "$PIDFILE" ] || { echo "IdP not running (no pid file)"; exit 0; }
pid=$(cat "$PIDFILE")
if kill -0 "$pid" 2>/dev/null; then
    # setsid made the server a process-group leader; its workers are in that group.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
    echo "IdP stopped (pid $pid)"
fi
rm -f "$PIDFILE"
