#!/bin/sh
# The harmless actions of `make demo`, run by mend-exec from its allowlist:
#   restart SERVICE  -- really restarts the demo's stand-in process for
#                       SERVICE (a sleep started by demo.sh; pid in STATE)
#   other ACTION ARGS -- say what a real action would do
# STATE is the demo's private directory.
set -eu
state=$1; action=$2; shift 2
case $action in
restart)
    svc=$1
    old=$(cat "$state/$svc.pid" 2>/dev/null || echo none)
    [ "$old" = none ] || kill "$old" 2>/dev/null || true
    # a new session, so the executor's process-group cleanup leaves it running
    setsid sleep 600 </dev/null >/dev/null 2>&1 &
    echo $! > "$state/$svc.pid"
    echo "restarted $svc: pid $old -> $(cat "$state/$svc.pid")"
    ;;
*)
    echo "$action $*"
    ;;
esac
