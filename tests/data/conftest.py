"""Writers of tiny datasets in the official layouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


def write_nifti(path: Path, data: np.ndarray, zooms: tuple[float, ...]) -> None:
    import nibabel as nib

    img = nib.Nifti1Image(data, np.diag([*zooms[:3], 1.0]) if len(zooms) >= 3 else np.eye(4))
    img.header.set_zooms(zooms)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))


def write_drive(root: Path, n_train: int = 5, n_test: int = 2, shape=(24, 20)) -> dict[str, np.ndarray]:
    """DRIVE layout with RGB TIFF images and 0/255 GIF annotations/FOV masks."""
    import tifffile
    from PIL import Image

    rng = np.random.default_rng(0)
    truth = {}
    for sub, nums in (("training", range(21, 21 + n_train)), ("test", range(1, 1 + n_test))):
        for d in ("images", "1st_manual", "mask"):
            (root / sub / d).mkdir(parents=True, exist_ok=True)
        for k in nums:
            num = f"{k:02d}"
            img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
            lab = (rng.random(shape) < 0.1).astype(np.uint8) * 255
            fov = np.zeros(shape, np.uint8)
            fov[2:-2, 3:-3] = 255
            tifffile.imwrite(root / sub / "images" / f"{num}_{sub}.tif", img)
            Image.fromarray(lab).save(root / sub / "1st_manual" / f"{num}_manual1.gif")
            Image.fromarray(fov).save(root / sub / "mask" / f"{num}_{sub}_mask.gif")
            truth[f"{sub}_{num}"] = (img, lab, fov)
    return truth


def write_acdc(root: Path, n: int = 4, shape_xyz=(12, 10, 3), zooms=(1.5, 1.25, 10.0)) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    truth = {}
    for p in range(1, n + 1):
        d = root / f"patient{p:03d}"
        d.mkdir(parents=True)
        ed, es = 1, 5 + p
        (d / "Info.cfg").write_text(f"ED: {ed}\nES: {es}\nGroup: NOR\nHeight: 170\nNbFrame: 20\nWeight: 70\n")
        for phase, fr in (("ED", ed), ("ES", es)):
            img = rng.normal(size=shape_xyz).astype(np.float32)
            gt = rng.integers(0, 4, shape_xyz).astype(np.uint8)
            write_nifti(d / f"patient{p:03d}_frame{fr:02d}.nii.gz", img, zooms)
            write_nifti(d / f"patient{p:03d}_frame{fr:02d}_gt.nii.gz", gt, zooms)
            truth[f"patient{p:03d}_{phase}"] = (img, gt)
    return truth


def write_decathlon(root: Path, n: int = 5, shape_xyz=(8, 6, 4), modalities: int = 2, zooms=(0.8, 0.7, 5.0)):
    rng = np.random.default_rng(2)
    truth = {}
    entries = []
    for i in range(n):
        shape = (*shape_xyz, modalities) if modalities > 1 else shape_xyz
        img = rng.normal(size=shape).astype(np.float32)
        lab = rng.integers(0, 3, shape_xyz).astype(np.uint8)
        write_nifti(root / "imagesTr" / f"case_{i:03d}.nii.gz", img, zooms + ((1.0,) if modalities > 1 else ()))
        write_nifti(root / "labelsTr" / f"case_{i:03d}.nii.gz", lab, zooms)
        entries.append({"image": f"./imagesTr/case_{i:03d}.nii.gz", "label": f"./labelsTr/case_{i:03d}.nii.gz"})
        truth[f"case_{i:03d}"] = (img, lab)
    meta = {
        "name": "TinyTask",
        "modality": {str(m): f"mod{m}" for m in range(modalities)},
        "labels": {"0": "background", "1": "edema", "2": "tumour"},
        "numTraining": n,
        "training": entries,
        "test": [],
    }
    (root / "dataset.json").write_text(json.dumps(meta))
    return truth


class _Writers:
    drive = staticmethod(write_drive)
    acdc = staticmethod(write_acdc)
    decathlon = staticmethod(write_decathlon)
    nifti = staticmethod(write_nifti)


@pytest.fixture
def writers() -> type[_Writers]:
    return _Writers
