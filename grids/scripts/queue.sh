#!/usr/bin/env bash
# #28 item 5/1/6: the next stage-1 grids, one after another, once the hippocampus stage 1 ends.
# Each grid is a table of its own; all three run one commit (the worktree's).
echo -10 > /proc/self/autogroup 2>/dev/null
while pgrep -f "bench configs/experiments/hippocampus_terms.yaml" > /dev/null; do sleep 60; done
# once more, from its own commit: retries the cells that failed (hder_1e-1 was refused once for
# a provenance record half-written by the kill at the last stop; fixed in bc92985)
# beside the next grid, so that no core idles while one cell runs alone
(cd /work/grid-hippo && . /work/main/.venv/bin/activate && PYTHONPATH=/work/grid-hippo/src \
  nice -n -10 edgewise bench configs/experiments/hippocampus_terms.yaml --jobs 2 \
  --output /work/main/runs/bench/hippo_select --no-progress) &
cd /work/grid-next || exit 1
. /work/main/.venv/bin/activate
export PYTHONPATH=/work/grid-next/src
for pair in acdc_terms:acdc_select acdc_conventions:acdc_conventions drive_terms:drive_select; do
  exp=${pair%%:*}; out=${pair##*:}
  echo "$(date -u +%FT%TZ) start $exp -> runs/bench/$out"
  nice -n -10 edgewise bench configs/experiments/$exp.yaml --jobs 2 \
    --output /work/main/runs/bench/$out --no-progress
  echo "$(date -u +%FT%TZ) end $exp (exit $?)"
done
wait
