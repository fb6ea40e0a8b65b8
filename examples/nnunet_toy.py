"""Train an nnU-Net v2 model with an edgewise boundary-aware trainer on a synthetic dataset.

The whole nnU-Net workflow, end to end, on a toy dataset written in nnU-Net's raw format:
dataset.json + NIfTI images, fingerprint extraction, planning and preprocessing through
nnU-Net's own API, then ``nnUNetv2_train ... -tr <trainer>`` (training, validation,
``validation/summary.json``) through ``python -m edgewise.integrations.nnunet``, which finds
the edgewise trainers (and those in ``nnUNet_extTrainer`` folders) even where nnU-Net was
installed without timm/torchvision.

    python examples/nnunet_toy.py --workdir /tmp/nnunet_toy --trainer nnUNetTrainerBoundary
    python examples/nnunet_toy.py --workdir /tmp/nnunet_toy --fast   # 1 tiny epoch on CPU

``--fast`` trains a subclass with 2 iterations per epoch, 1 validation iteration and 1 epoch
(written to ``<workdir>/ext_trainers``, which is put in ``nnUNet_extTrainer``): the way to
shorten any nnU-Net trainer.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

DATASET_ID = 990
DATASET_NAME = f"Dataset{DATASET_ID}_EdgewiseToy"
# (z, y, x) array-order spacing of the toy volumes: single-slice "3D" images, anisotropic
# in-plane so that the trainers' physical spacing matters.
SPACING_ZYX = (3.0, 0.8, 0.5)

# nnU-Net records its trainers' __init__ arguments by name: keep the signature explicit.
FAST_TRAINER = '''
import torch

from edgewise.integrations.nnunet.trainers import {base}


class {name}({base}):
    """{base} shortened to a smoke run: 1 epoch of 2 iterations, 1 validation iteration."""

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 1
        self.num_iterations_per_epoch = 2
        self.num_val_iterations_per_epoch = 1
'''


def make_case(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy image with a disc (label 1) and a thin bar (label 2)."""
    yy, xx = np.mgrid[:size, :size]
    label = np.zeros((size, size), dtype=np.uint8)
    cy, cx = rng.uniform(0.3 * size, 0.7 * size, size=2)
    r = rng.uniform(0.12 * size, 0.22 * size)
    label[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1
    row = int(rng.integers(2, size // 5))
    label[row : row + 2, size // 6 : 5 * size // 6] = 2
    image = 100.0 * label + rng.normal(0.0, 30.0, size=label.shape)
    return image.astype(np.float32)[None], label[None]


def write_raw(raw: Path, num_cases: int, size: int, seed: int) -> None:
    import SimpleITK as sitk
    from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json

    out = raw / DATASET_NAME
    (out / "imagesTr").mkdir(parents=True, exist_ok=True)
    (out / "labelsTr").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(num_cases):
        image, label = make_case(rng, size)
        for arr, path in ((image, out / "imagesTr" / f"toy_{i:03d}_0000.nii.gz"),
                          (label, out / "labelsTr" / f"toy_{i:03d}.nii.gz")):
            itk = sitk.GetImageFromArray(arr)
            itk.SetSpacing(tuple(reversed(SPACING_ZYX)))  # SimpleITK takes (x, y, z)
            sitk.WriteImage(itk, str(path))
    generate_dataset_json(
        str(out), channel_names={0: "MRI"}, labels={"background": 0, "disc": 1, "bar": 2},
        num_training_cases=num_cases, file_ending=".nii.gz", dataset_name=DATASET_NAME,
    )


def plan_and_preprocess() -> None:
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprints,
        plan_experiments,
        preprocess,
    )

    extract_fingerprints([DATASET_ID], num_processes=1, check_dataset_integrity=True,
                         verbose=False, show_progress_bar=False)
    plan_experiments([DATASET_ID])
    preprocess([DATASET_ID], configurations=("2d",), num_processes=(1,), verbose=False,
               show_progress_bar=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="holds nnUNet_raw/preprocessed/results")
    parser.add_argument("--trainer", default="nnUNetTrainerBoundary")
    parser.add_argument("--fast", action="store_true", help="1 tiny epoch (smoke test)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "mps"])
    parser.add_argument("--cases", type=int, default=6)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--stage", choices=["all", "prepare", "train"], default="all",
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    work = args.workdir.resolve()
    env = dict(os.environ)
    for name in ("raw", "preprocessed", "results"):
        (work / name).mkdir(parents=True, exist_ok=True)
        env[f"nnUNet_{name}"] = str(work / name)
    # Keep nnU-Net small on small machines (the planner needs nnUNet_n_proc_DA >= 1).
    env.setdefault("nnUNet_n_proc_DA", "1")
    env.setdefault("nnUNet_def_n_proc", "1")
    env.setdefault("nnUNet_compile", "false")

    if args.stage != "all":
        # nnU-Net reads its folders from the environment at import time: run in a child.
        os.environ.update(env)
        if args.stage == "prepare":
            write_raw(work / "raw", args.cases, args.size, seed=0)
            plan_and_preprocess()
        return 0

    stage = [sys.executable, str(Path(__file__).resolve()), "--workdir", str(work),
             "--cases", str(args.cases), "--size", str(args.size), "--stage"]
    subprocess.run([*stage, "prepare"], env=env, check=True)

    trainer = args.trainer
    if args.fast:
        ext = work / "ext_trainers"
        ext.mkdir(exist_ok=True)
        trainer = f"{args.trainer}Fast"
        (ext / "fast_trainers.py").write_text(FAST_TRAINER.format(base=args.trainer, name=trainer))
        env["nnUNet_extTrainer"] = os.pathsep.join(
            p for p in (str(ext), env.get("nnUNet_extTrainer", "")) if p
        )
    if args.fast:
        env["nnUNet_n_proc_DA"] = "0"  # augment in the main process: no worker start-up
    cmd = [sys.executable, "-m", "edgewise.integrations.nnunet", "nnUNetv2_train",
           str(DATASET_ID), "2d", "0", "-tr", trainer, "-device", args.device]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, env=env, check=True)

    fold = work / "results" / DATASET_NAME / f"{trainer}__nnUNetPlans__2d" / "fold_0"
    summary = json.loads((fold / "validation" / "summary.json").read_text())
    print(f"results in {fold}")
    print("validation mean Dice per class:",
          {k: round(v["Dice"], 4) for k, v in summary["mean"].items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
