#!/usr/bin/env bash
# Builds the test environment the README describes, in a fresh virtual environment.
#
#   .ci/install.sh VENV [CONSTRAINTS]
#
# With CONSTRAINTS (the committed lock, .ci/constraints.txt) every package is pinned, so one
# commit always gets one environment (.ci/run). Without it pip takes the newest releases the
# ranges in pyproject.toml allow (tools/refresh-lock, tools/check-latest).
# The steps are the users' steps: torch first, then ".[dev]" (README); Ray as docs/bench.md
# says; nnU-Net v2 without torchvision as docs/integrations/nnunet.md says.
set -euo pipefail
venv=${1:?usage: .ci/install.sh VENV [CONSTRAINTS]}
lock=${2:-}
cd "$(dirname "$0")/.."
rm -rf "$venv"
python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
export PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off PIP_DISABLE_PIP_VERSION_CHECK=1
c=()
if [[ -n $lock ]]; then
    c=(-c "$lock")
fi

# torch is the machine's CPU wheel in every mode: the newest torch on PyPI is a CUDA build
# of several GB (README: install torch first), so --latest does not move it either.
pip install -q "${c[@]}" torch==2.13.0
pip install -q "${c[@]}" -e ".[dev]"

# What the optional installs must not move (nnunet.md: "-c constraints.txt with your pins").
if [[ -z $lock ]]; then
    pip freeze | grep -iE '^(torch|numpy|scipy)==' > "$venv/pins.txt"
    c=(-c "$venv/pins.txt")
fi
pip install -q "${c[@]}" -e ".[ray]"
pip install -q "${c[@]}" scikit-image SimpleITK pandas graphviz seaborn imagecodecs yacs einops \
    "blosc2>=3.3.2" scikit-learn connected-components-3d future unittest2 threadpoolctl requests
pip install -q "${c[@]}" --no-deps nnunetv2==2.8.1 dynamic-network-architectures==0.4.4 \
    acvl-utils==0.2.6 batchgenerators==0.25.5 batchgeneratorsv2==0.3.6

python - <<'PY'
import importlib
import importlib.util

import torch

# The optional tests skip when these do not import: here they must, or the run proves less.
for name in ("nnunetv2.training.nnUNetTrainer.nnUNetTrainer", "ray", "monai", "lightning",
             "surface_distance", "medpy", "kornia"):
    importlib.import_module(name)
assert importlib.util.find_spec("torchvision") is None, "torchvision was installed"
assert torch.__version__.startswith("2.13.0"), f"torch moved to {torch.__version__}"
print("torch", torch.__version__, "| optional integrations import | no torchvision")
PY
