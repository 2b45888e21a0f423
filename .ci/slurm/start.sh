#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine (CI, or a laptop to try `snakemake --profile slurm`).
#   sudo .ci/slurm/start.sh        installs slurm-wlm + munge if missing, writes /etc/slurm/slurm.conf,
#                                  starts munged, slurmctld and slurmd, waits until the node is idle.
# Stop it with .ci/slurm/stop.sh. Needs root (apt-get, /etc/slurm, daemons).
# The config must be /etc/slurm/slurm.conf: the SLURM executor's job step drops SLURM_* variables
# (SLURM_CONF included) from the environment, so a config elsewhere is not found inside the jobs.
set -euo pipefail

WAIT_S=${SLURM_START_WAIT_S:-60}
CONF=/etc/slurm/slurm.conf

if [[ $(id -u) -ne 0 ]]; then
    echo "start.sh: run as root (apt-get, /etc/slurm, daemons)" >&2
    exit 2
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
    || ! command -v sbatch >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm munge >/dev/null
fi

HOST=$(hostname -s)
CPUS=$(nproc)
# RealMemory a bit below what is free now: slurmd drains a node that reports less than configured.
AVAIL_MB=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
REAL_MB=$(( AVAIL_MB - AVAIL_MB / 10 - 512 ))
(( REAL_MB > 1024 )) || { echo "start.sh: only ${AVAIL_MB} MB available" >&2; exit 1; }

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm
chown slurm:slurm /var/spool/slurmctld /var/log/slurm /run/slurm 2>/dev/null || true

cat > "$CONF" <<CONFEOF
# Written by .ci/slurm/start.sh: one node, one partition, no accounting.
ClusterName=orca-ci
SlurmctldHost=${HOST}
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
# squeue must still list finished jobs when the executor asks (>= 3 x its first status interval).
MinJobAge=300
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldTimeout=60
SlurmdTimeout=60
InactiveLimit=0
KillWait=10
NodeName=${HOST} CPUs=${CPUS} RealMemory=${REAL_MB} State=UNKNOWN
PartitionName=ci Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
CONFEOF
chmod 644 "$CONF"

# munge: a key (the package usually makes one) and the daemon.
if [[ ! -s /etc/munge/munge.key ]]; then
    if command -v mungekey >/dev/null; then mungekey --create --force; else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! pgrep -u munge -x munged >/dev/null; then
    runuser -u munge -- /usr/sbin/munged
fi
for _ in $(seq 20); do munge -n </dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
munge -n </dev/null | unmunge >/dev/null || { echo "start.sh: munge does not answer" >&2; exit 1; }

# slurmctld and slurmd (restarted so that they read the config just written).
for pidfile in /run/slurm/slurmd.pid /run/slurm/slurmctld.pid; do
    if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        kill "$(cat "$pidfile")"; sleep 1
    fi
done
/usr/sbin/slurmctld -i     # -i: ignore state left by an earlier run
/usr/sbin/slurmd

deadline=$(( SECONDS + WAIT_S ))
until [[ $(sinfo -h -n "$HOST" -o %t 2>/dev/null) == idle ]]; do
    if (( SECONDS > deadline )); then
        echo "start.sh: node ${HOST} not idle after ${WAIT_S}s:" >&2
        sinfo -N -l >&2 || true
        tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
        exit 1
    fi
    # A node that came up DOWN/DRAIN from an earlier run: bring it back.
    state=$(sinfo -h -n "$HOST" -o %t 2>/dev/null || true)
    if [[ $state == down* || $state == drain* ]]; then
        scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true
    fi
    sleep 1
done
sinfo
echo "start.sh: SLURM up: node ${HOST}, ${CPUS} CPUs, ${REAL_MB} MB, partition ci (config ${CONF})"
