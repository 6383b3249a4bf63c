#!/usr/bin/env bash
# A real single-node SLURM cluster for the end-to-end test, from Debian's packages:
# munge, mariadb + slurmdbd (so the executor plugin's default `sacct` status checks work as on
# a real cluster), slurmctld and slurmd, with 2 fake GPUs declared as gres.
#
#   tests/slurm/cluster.sh install        apt-get the packages (root)
#   tests/slurm/cluster.sh start DIR      start the daemons
#   tests/slurm/cluster.sh stop DIR       stop exactly the daemons started in DIR, by pid
#   tests/slurm/cluster.sh foreign        list the SLURM config files present that this
#                                         script did not write (a site's own SLURM)
#
# State, logs and pid files live in DIR. The configuration goes to /etc/slurm, where clients
# look for it: the executor plugin's job step drops SLURM_* variables (SLURM_CONF included)
# before its nested `srun`, so on a real cluster, and here, that srun finds the config only at
# the default path. Each file is marked; `start` refuses to run while `foreign` lists anything,
# so a site's config is never overwritten, and `stop` removes only marked files. Daemons run in
# the foreground under this script's control and are stopped by their recorded pids, never by
# process name.
set -euo pipefail

CONF_DIR=/etc/slurm
MARKER="# written by snakesweep tests/slurm/cluster.sh: removed by its stop command"
CONF_FILES=(slurm.conf gres.conf slurmdbd.conf) # the files this script writes to CONF_DIR
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
MYSQL_PORT=${SNAKESWEEP_TEST_MYSQL_PORT:-33061}
DBD_PORT=${SNAKESWEEP_TEST_DBD_PORT:-16819}
CTLD_PORT=${SNAKESWEEP_TEST_CTLD_PORT:-16817}
SLURMD_PORT=${SNAKESWEEP_TEST_SLURMD_PORT:-16818}

log() { echo "[slurm-test] $*" >&2; }

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

foreign_config() {  # print each SLURM config file present that this script did not write
    local f
    for f in "${CONF_FILES[@]/#/$CONF_DIR/}" /etc/slurm-llnl/slurm.conf ${SLURM_CONF:+"$SLURM_CONF"}; do
        # unreadable counts as foreign too
        if [ -e "$f" ] && ! grep -qsF "$MARKER" "$f"; then echo "$f"; fi
    done
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then log "timed out waiting for $what"; return 1; fi
        sleep 0.5
    done
}

spawn() {  # spawn NAME COMMAND...: run in the background, record its pid
    local name=$1
    shift
    "$@" >"$DIR/log/$name.out" 2>&1 &
    echo $! >"$DIR/pids/$name"
}

start() {
    DIR=$(realpath -m "$1")
    local foreign
    foreign=$(foreign_config)
    if [ -n "$foreign" ]; then
        log "a SLURM config that this script did not write exists, not touching it:" $foreign
        return 1
    fi
    mkdir -p "$DIR"/{log,pids,state,spool,dev,run,mysql-run} "$CONF_DIR"
    local host
    host=$(hostname -s)

    # munge: as the munge user, with the key the package created (setpriv execs, so the
    # recorded pid is the daemon's own)
    command install -d -o munge -g munge -m 0755 /run/munge
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        spawn munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground
        wait_for 20 munge sh -c 'munge -n | unmunge'
    else
        log "munged already running (not started by this script, will not be stopped)"
    fi

    # mariadb in a mysql-owned directory (it dies silently with root-owned pid/log paths)
    chown mysql:mysql "$DIR/mysql-run"
    if [ ! -d "$DIR/mysql-run/data/mysql" ]; then
        mariadb-install-db --user=mysql --datadir="$DIR/mysql-run/data" \
            --auth-root-authentication-method=normal >"$DIR/log/mariadb-install.out" 2>&1
    fi
    spawn mariadbd setpriv --reuid=mysql --regid=mysql --init-groups /usr/sbin/mariadbd --no-defaults --datadir="$DIR/mysql-run/data" \
        --socket="$DIR/mysql-run/mysql.sock" --pid-file="$DIR/mysql-run/mariadb.pid" \
        --port="$MYSQL_PORT" --bind-address=127.0.0.1 --log-error="$DIR/mysql-run/error.log"
    wait_for 60 mariadb mariadb --no-defaults -S "$DIR/mysql-run/mysql.sock" -uroot -e "select 1"
    mariadb --no-defaults -S "$DIR/mysql-run/mysql.sock" -uroot -e "
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmtest';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmtest';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"

    # fake GPUs: symlinks to /dev/null (plain files are rejected as not a device)
    ln -sf /dev/null "$DIR/dev/nvidia0"
    ln -sf /dev/null "$DIR/dev/nvidia1"

    cat >"$CONF_DIR/slurm.conf" <<CONF
$MARKER
ClusterName=snakesweep
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStorageTRES=gres/gpu
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
MinJobAge=600
# Declare more CPUs than this small machine has, so that two agents (cpus_per_gpu: 2 in the
# profile) run at once on the two fake GPUs, as they would on a GPU node.
SlurmdParameters=config_overrides
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=4 RealMemory=8000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    cat >"$CONF_DIR/gres.conf" <<CONF
$MARKER
AutoDetect=off
NodeName=$host Name=gpu File=$DIR/dev/nvidia[0-1]
CONF
    cat >"$CONF_DIR/slurmdbd.conf" <<CONF
$MARKER
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$MYSQL_PORT
StorageUser=slurm
StoragePass=slurmtest
StorageLoc=slurm_acct_db
CONF
    chmod 600 "$CONF_DIR/slurmdbd.conf"
    unset SLURM_CONF

    spawn slurmdbd /usr/sbin/slurmdbd -D
    wait_for 60 slurmdbd sacctmgr -i show cluster
    sacctmgr -i add cluster snakesweep >/dev/null 2>&1 || true
    spawn slurmctld /usr/sbin/slurmctld -D -c -i
    wait_for 60 slurmctld scontrol ping
    spawn slurmd /usr/sbin/slurmd -D
    wait_for 60 "an idle node" sh -c 'sinfo -h -o %T | grep -q idle'
    log "cluster up ($(sinfo -h -o '%P %D %T %G'))"
}

stop() {
    DIR=$(realpath -m "$1")
    # reverse start order; each only if this script started it
    for name in slurmd slurmctld slurmdbd mariadbd munged; do
        local file="$DIR/pids/$name"
        [ -f "$file" ] || continue
        local pid
        pid=$(cat "$file")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$file"
    done
    for f in "${CONF_FILES[@]}"; do
        if [ -e "$CONF_DIR/$f" ] && grep -qF "$MARKER" "$CONF_DIR/$f"; then rm -f "$CONF_DIR/$f"; fi
    done
    log "stopped"
}

case "${1:-}" in
    install) install_packages ;;
    start) start "${2:?usage: cluster.sh start DIR}" ;;
    stop) stop "${2:?usage: cluster.sh stop DIR}" ;;
    foreign) foreign_config ;;
    *) echo "usage: $0 install | start DIR | stop DIR | foreign" >&2; exit 2 ;;
esac
