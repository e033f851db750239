#!/usr/bin/env bash
# Stop the one-node SLURM cluster started by .ci/slurm-up.sh: slurmd,
# slurmctld, then munged, by the PIDs recorded in $SLURM_CI_DIR/pids.
# Daemons that are already gone are not an error.  State and logs in
# $SLURM_CI_DIR are kept (for CI artifacts); the pid file is removed.
set -euo pipefail

CI_DIR=${SLURM_CI_DIR:-/var/lib/slurm-ci}
PID_FILE=$CI_DIR/pids
WAIT=${SLURM_CI_STOP_TIMEOUT:-15}

if [[ $EUID -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
    exec sudo -E "$0" "$@"
fi

log() { printf '[slurm-down] %s\n' "$*"; }

if [[ ! -f $PID_FILE ]]; then
    log "no pid file $PID_FILE; nothing to stop"
    exit 0
fi

# true if pid $2 is alive (not a zombie: PID 1 in containers may not reap)
# and its command name is $1 (guards against pid reuse)
alive() {
    local name=$1 pid=$2 stat
    [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/stat ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    # /proc/PID/stat: "pid (comm) state ..."
    [[ ${stat#*"("} == "$name) "* && ${stat##*") "} != Z* ]]
}

stop() {
    local name=$1 pid i
    pid=$(awk -v n="$name" '$1 == n { print $2 }' "$PID_FILE" | tail -n 1)
    if [[ -z $pid ]]; then
        return 0
    fi
    if ! alive "$name" "$pid"; then
        log "$name (pid $pid) already gone"
        return 0
    fi
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < WAIT * 2; i++)); do
        alive "$name" "$pid" || { log "$name stopped"; return 0; }
        sleep 0.5
    done
    log "$name (pid $pid) still running after ${WAIT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 10; i++)); do
        alive "$name" "$pid" || return 0
        sleep 0.5
    done
    log "WARNING: could not kill $name (pid $pid)" >&2
}

# Order matters: slurmd first (it reports to slurmctld), munged last (both use it).
stop slurmd
stop slurmctld
stop munged
rm -f "$PID_FILE"
log "done"
