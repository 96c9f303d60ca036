#!/usr/bin/env bash
# Job status for Snakemake's cluster-generic executor (pairs with submit.sh): prints success, failed or
# running for the job id given.
set -uo pipefail
state=.snakemake/cluster-generic-local/$1
if [[ -f $state.rc ]]; then
    [[ $(cat "$state.rc") == 0 ]] && echo success || echo failed
elif [[ -f $state.pid ]] && kill -0 "$(cat "$state.pid")" 2>/dev/null; then
    echo running
elif [[ -f $state.rc ]]; then  # it ended between the two checks
    [[ $(cat "$state.rc") == 0 ]] && echo success || echo failed
else
    echo failed  # unknown id, or the job died without writing its exit status
fi
