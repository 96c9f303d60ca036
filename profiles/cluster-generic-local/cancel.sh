#!/usr/bin/env bash
# Cancel jobs started by submit.sh (their whole process group: submit.sh starts each in its own session).
for id in "$@"; do
    pid_file=.snakemake/cluster-generic-local/$id.pid
    [[ -f $pid_file ]] && kill -- "-$(cat "$pid_file")" 2>/dev/null
done
exit 0
