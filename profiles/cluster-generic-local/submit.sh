#!/usr/bin/env bash
# Stand-in for sbatch/qsub (Snakemake's cluster-generic executor): runs a job script on this machine in the
# background and prints a job id. Usage: submit.sh THREADS MEM_MB JOBSCRIPT
# Job state lives in .snakemake/cluster-generic-local/<id>.{pid,rc,log}; status.sh reads it.
set -euo pipefail
threads=$1 mem_mb=$2 jobscript=$3
state=.snakemake/cluster-generic-local
mkdir -p "$state"
id="local-$(date +%s%N)-$$"
# The requested resources are recorded (a real scheduler would enforce them).
echo "threads=$threads mem_mb=$mem_mb jobscript=$jobscript" >"$state/$id.log"
# setsid: the job outlives this script; the rc file is written only when the job script has ended.
setsid bash -c 'bash "$1" >>"$2.log" 2>&1; echo $? >"$2.rc.part" && mv "$2.rc.part" "$2.rc"' \
    _ "$jobscript" "$state/$id" </dev/null >/dev/null 2>&1 &
echo $! >"$state/$id.pid"
echo "$id"
