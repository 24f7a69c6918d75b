#!/usr/bin/env bash
# A real one-node Slurm on this machine, from Debian's packages (munge, slurmctld, slurmd), for the
# tests and for demos:  scripts/slurm_local.sh up | down | status
# `up` does nothing when a Slurm node already takes jobs. Otherwise it installs the packages when
# missing (apt-get; needs root and the Debian mirror), writes /etc/slurm/slurm.conf for this host
# (all its CPUs and memory, no GPUs, one partition "local"), starts the daemons and waits until the
# node takes jobs.
set -euo pipefail

conf=/etc/slurm/slurm.conf
state=/var/spool/slurm-local
mark="# written by gan-runner's scripts/slurm_local.sh"

ours() {
    [ ! -e "$conf" ] || grep -qF "$mark" "$conf"
}

install() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm munge >/dev/null
}

configure() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
    mkdir -p /etc/slurm "$state/ctld" "$state/d" /var/log/slurm /run/munge /var/lib/munge /var/log/munge
    cat >"$conf" <<CONF
$mark
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
KillWait=30
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
    [ -s /etc/munge/munge.key ] || { mkdir -p /etc/munge; dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
    chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
    chmod 0400 /etc/munge/munge.key
}

node_up() {
    sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'
}

up() {
    if node_up; then status; return 0; fi  # a Slurm that already runs (ours, or a cluster's) is used as is
    ours || { echo "slurm_local: $conf is not ours; start that Slurm its own way" >&2; return 1; }
    install
    configure
    pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged --force
    pgrep -x slurmctld >/dev/null || slurmctld
    pgrep -x slurmd >/dev/null || slurmd
    for _ in $(seq 60); do
        if node_up; then status; return 0; fi
        scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
        sleep 1
    done
    echo "slurm_local: the node did not come up; see /var/log/slurm/*.log" >&2
    status >&2 || true
    return 1
}

down() {
    ours || { echo "slurm_local: $conf is not ours; not stopping that Slurm" >&2; return 1; }
    scancel --partition=local >/dev/null 2>&1 || true
    pkill -x slurmd || true
    pkill -x slurmctld || true
    pkill -x munged || true
    for _ in $(seq 50); do  # until they have exited
        pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || pgrep -x munged >/dev/null || return 0
        sleep 0.2
    done
}

status() {
    sinfo
    squeue
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up | down | status" >&2; exit 2 ;;
esac
