#!/usr/bin/env bash
# Stop the one-node cluster started by .ci/slurm/start.sh (slurmd, slurmctld, munged); safe to run twice.
set -uo pipefail

stop_pidfile() {  # stop_pidfile NAME PIDFILE
    local pid
    [[ -s $2 ]] || return 0
    pid=$(cat "$2")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        echo "stop.sh: stopped $1 ($pid)"
    fi
    rm -f "$2"
}

stop_pidfile slurmd /run/slurm/slurmd.pid
stop_pidfile slurmctld /run/slurm/slurmctld.pid
munge_pidfile=/run/munge/munged.pid
[[ -s $munge_pidfile ]] || munge_pidfile=/var/run/munge/munged.pid
stop_pidfile munged "$munge_pidfile"
exit 0
