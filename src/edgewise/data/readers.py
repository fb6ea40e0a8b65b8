"""Readers for the official layouts: DRIVE, ACDC, Medical Segmentation Decathlon, and
any folder of image/label pairs. All return items following the schema of
:mod:`edgewise.data.base`; 3D files are read in reversed-NIfTI array order
``(D, H, W) = (z, y, x)`` with spacing reversed to match (see :mod:`edgewise.data.image_files`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgewise.data.base import Case, SegmentationDataset, Volume, split_cases
from edgewise.data.image_files import (
    IMAGE_2D_SUFFIXES,
    NIFTI_SUFFIXES,
    check_label_map,
    is_nifti,
    nifti_spatial_shape,
    read_any,
    read_image_2d,
    read_nifti,
    strip_suffix,
    to_label,
)

__all__ = ["DriveDataset", "ACDCDataset", "DecathlonDataset", "FolderDataset"]


def _listing(root: Path, limit: int = 8) -> str:
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    except OSError:
        return "(unreadable)"
    more = f", ... ({len(names)} entries)" if len(names) > limit else ""
    return "[" + ", ".join(names[:limit]) + more + "]" if names else "(empty)"


def _require_dir(root: str | Path, layout: str) -> Path:
    root = Path(root).expanduser()
    if root.exists() and not root.is_dir():
        raise FileNotFoundError(f"expected a {layout} folder at {root}, but it is a file: give the folder that holds it")
    if not root.is_dir():
        raise FileNotFoundError(f"expected a {layout} folder at {root}, but it does not exist")
    return root


# ---------------------------------------------------------------------------------------
# DRIVE
# ---------------------------------------------------------------------------------------


class DriveDataset(SegmentationDataset):
    """DRIVE retinal vessels (Staal et al., IEEE TMI 2004), official layout.

    Expects ``root/training`` and ``root/test``, each with ``images/NN_*.tif``,
    ``1st_manual/NN_manual1.gif`` (0/255 vessel masks) and ``mask/NN_*_mask.gif``
    (field-of-view masks, exposed as ``item["mask"]``: evaluate inside it).

    Args:
        root: the DRIVE folder.
        split: ``"train"``, ``"val"`` (both from ``training/``, see ``val_fraction``),
            ``"test"`` (``test/``) or ``"all"`` (``training/`` and ``test/``).
        size: resize to ``(H, W)`` (bilinear image, nearest label/FOV), e.g. (256, 256).
        val_fraction: fraction of ``training/`` carved out (by ``seed``) as ``"val"``.
        seed: seed of the validation carve-out.
        channels: ``"rgb"`` (3 channels) or ``"green"`` (1 channel, the usual vessel
            contrast).
        normalize: per-image normalisation (default ``"minmax"`` per channel).
        **kwargs: ``transform``, ``cache`` of :class:`SegmentationDataset`.
    """

    def __init__(
        self,
        root: str | Path,
        split: Literal["train", "val", "test", "all"] = "train",
        *,
        size: Sequence[int] | None = None,
        val_fraction: float = 0.0,
        seed: int = 0,
        channels: Literal["rgb", "green"] = "rgb",
        normalize: Literal["zscore", "minmax", "percentile", "none"] = "minmax",
        **kwargs: Any,
    ) -> None:
        root = _require_dir(root, "DRIVE")
        if channels not in ("rgb", "green"):
            raise ValueError(f"expected channels in ('rgb', 'green'), got {channels!r}")
        self.channels = channels
        if split in ("train", "val"):
            cases = split_cases(self._scan(root, "training"), split, val_fraction=val_fraction, seed=seed)
        elif split == "test":
            cases = self._scan(root, "test")
        elif split == "all":
            cases = self._scan(root, "training") + self._scan(root, "test")
        else:
            raise ValueError(f"expected split in ('train', 'val', 'test', 'all'), got {split!r}")
        super().__init__(
            cases,
            num_classes=2,
            class_names=["background", "vessel"],
            in_channels=3 if channels == "rgb" else 1,
            volume_dims=2,
            size=size,
            normalize=normalize,
            **kwargs,
        )

    @staticmethod
    def _scan(root: Path, sub: str) -> list[Case]:
        folder = root / sub
        expected = f"{sub}/images/NN_*.tif, {sub}/1st_manual/NN_manual1.gif, {sub}/mask/NN_*_mask.gif"
        if not (folder / "images").is_dir():
            raise FileNotFoundError(
                f"expected the DRIVE layout ({expected}) under {root}, found {root}: {_listing(root)}"
                + (f", {folder}: {_listing(folder)}" if folder.is_dir() else "")
            )
        cases = []
        for img in sorted((folder / "images").glob("*.tif")):
            num = img.name.split("_")[0]
            label = folder / "1st_manual" / f"{num}_manual1.gif"
            masks = sorted((folder / "mask").glob(f"{num}_*mask.gif"))
            if not label.is_file():
                raise FileNotFoundError(f"DRIVE image {img} has no manual annotation: expected {label}")
            if not masks:
                raise FileNotFoundError(
                    f"DRIVE image {img} has no field-of-view mask: expected {folder / 'mask' / f'{num}_{sub}_mask.gif'}"
                )
            cases.append(Case(f"{sub}_{num}", image=(img,), label=label, mask=masks[0]))
        if not cases:
            raise FileNotFoundError(f"no DRIVE images (*.tif) in {folder / 'images'}: {_listing(folder / 'images')}")
        return cases

    def load_case(self, case: Case) -> Volume:
        img = read_image_2d(case.image[0])
        if img.ndim != 3 or img.shape[-1] != 3:
            raise ValueError(f"expected an RGB DRIVE image (H, W, 3) in {case.image[0]}, got shape {img.shape}")
        img = img[..., 1:2] if self.channels == "green" else img
        image = np.moveaxis(img, -1, 0).astype(np.float32)
        assert case.label is not None and case.mask is not None  # find_cases gives DRIVE cases both
        label = _binary_mask(read_image_2d(case.label), case.label, "vessel annotation")
        fov = _binary_mask(read_image_2d(case.mask), case.mask, "field-of-view mask")
        return Volume(image, label.astype(np.int64), (1.0, 1.0), fov)

    def case_shape(self, case: Case) -> tuple[int, ...]:
        from PIL import Image

        assert case.label is not None  # find_cases gives every DRIVE case its annotation
        with Image.open(case.label) as im:
            return (im.size[1], im.size[0])


def _binary_mask(arr: np.ndarray, path: Path, what: str) -> np.ndarray:
    if arr.ndim == 3:
        arr = arr[..., 0]
    values = set(np.unique(arr).tolist())
    if not values <= {0, 255} and not values <= {0, 1}:
        raise ValueError(f"unexpected values {sorted(values)[:10]} in {what} {path}: expected 0/255")
    return arr > 0


# ---------------------------------------------------------------------------------------
# shared 3D options
# ---------------------------------------------------------------------------------------

_VOLUME_DOC = """
        mode: ``"slices"`` (2D items along ``slice_axis``, default), ``"whole"`` (3D
            volumes) or ``"patches"`` (random 3D crops of ``patch_size`` with foreground
            oversampling).
        size: slices: in-plane ``(H, W)``; whole: ``(D, H, W)``.
        val_fraction, test_fraction, seed: deterministic case-level split
            (:func:`edgewise.data.base.split_cases`).
        normalize: per-volume, per-channel normalisation (default ``"zscore"``).
        **kwargs: ``patch_size``, ``samples_per_volume``, ``foreground_oversample``,
            ``slice_axis``, ``transform``, ``cache``, ``map_cache``, ``max_cases`` of
            :class:`SegmentationDataset`."""


class _NiftiPairs(SegmentationDataset):
    """Cases whose images/labels are NIfTI files (one label file, image files as channels)."""

    label_map: Mapping[int, int] | None = None

    def load_case(self, case: Case) -> Volume:
        chans = []
        spacing: tuple[float, ...] = ()
        for p in case.image:
            arr, sp = read_nifti(p)
            arr = arr if arr.ndim == len(sp) + 1 else arr[None]
            chans.append(arr.astype(np.float32))
            spacing = spacing or sp
        for p, c in zip(case.image, chans):
            if c.shape[1:] != chans[0].shape[1:]:
                raise ValueError(f"image size mismatch: {p} has {c.shape[1:]}, {case.image[0]} has {chans[0].shape[1:]}")
        image = np.concatenate(chans, 0)
        assert case.label is not None
        raw, lsp = read_nifti(case.label)
        if raw.ndim != len(lsp):
            raise ValueError(f"expected a single-channel label volume in {case.label}, got shape {raw.shape}")
        label = to_label(raw, case.label, self.num_classes, self.label_map)
        if image.shape[1:] != label.shape:
            raise ValueError(
                f"image/label size mismatch for case {case.case_id}: image {case.image[0]} has spatial shape "
                f"{image.shape[1:]}, label {case.label} has {label.shape}"
            )
        return Volume(image, label, tuple(float(s) for s in spacing))

    def case_shape(self, case: Case) -> tuple[int, ...]:
        assert case.label is not None
        return nifti_spatial_shape(case.label)


# ---------------------------------------------------------------------------------------
# ACDC
# ---------------------------------------------------------------------------------------


def _read_info_cfg(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise FileNotFoundError(f"ACDC patient folder {path.parent} has no Info.cfg (expected {path})")
    info = {}
    for line in path.read_text().splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            info[k.strip()] = v.strip()
    for key in ("ED", "ES"):
        if key not in info or not info[key].isdigit():
            raise ValueError(f"expected an integer '{key}: <frame>' line in {path}, got {info.get(key)!r}")
    return info


# case ids of ACDCDataset: the patient, then the frame
_ACDC_CASE = re.compile(r"^(patient\d+)_(?:ED|ES)$")


class ACDCDataset(_NiftiPairs):
    """ACDC cardiac MRI (Bernard et al., IEEE TMI 2018), official layout.

    Expects ``root/patientNNN/`` folders (directly or under ``root/training`` and
    ``root/testing``), each with ``Info.cfg`` (``ED: k``, ``ES: k``) and
    ``patientNNN_frameXX.nii.gz`` + ``patientNNN_frameXX_gt.nii.gz``. Labels: 0
    background, 1 right ventricle, 2 myocardium, 3 left ventricle. Case ids are
    ``patientNNN_ED`` / ``patientNNN_ES``; splits are by patient, so both frames of a
    patient stay together. With ``training/`` and ``testing/`` present, ``"test"`` is
    ``testing/`` and ``"train"``/``"val"`` come from ``training/``; otherwise all three
    are carved from the pooled patients by ``val_fraction``/``test_fraction``.

    Volumes are ``(D, H, W) = (z, y, x)`` (short-axis slices first) with spacing e.g.
    ``(10, 1.56, 1.56)`` mm.

    Args:
        root: the ACDC folder.
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        frames: ``"both"``, ``"ED"`` or ``"ES"``.
    """ + _VOLUME_DOC

    @staticmethod
    def subject_of(case_id: str) -> str:
        """The patient of a case: ``patientNNN`` for ``patientNNN_ED`` and ``patientNNN_ES``
        (other ids are their own subject).

        Example:
            >>> ACDCDataset.subject_of("patient101_ES")
            'patient101'
        """
        m = _ACDC_CASE.match(case_id)
        return m.group(1) if m else case_id

    def __init__(
        self,
        root: str | Path,
        split: Literal["train", "val", "test", "all"] = "train",
        *,
        frames: Literal["both", "ED", "ES"] = "both",
        mode: Literal["whole", "slices", "patches"] = "slices",
        val_fraction: float = 0.0,
        test_fraction: float = 0.0,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        root = _require_dir(root, "ACDC")
        if frames not in ("both", "ED", "ES"):
            raise ValueError(f"expected frames in ('both', 'ED', 'ES'), got {frames!r}")
        pat = re.compile(r"^patient\d+$")
        # a copy with training/ only (no official test labels) pools training/ and carves
        # all three splits from it, like a flat folder
        has_sub = (root / "training").is_dir() and (root / "testing").is_dir()
        if (root / "training").is_dir() and not has_sub:
            root = root / "training"
        pools = {"training": root / "training", "testing": root / "testing"} if has_sub else {"all": root}
        patients: dict[str, list[Path]] = {
            k: sorted(p for p in d.iterdir() if p.is_dir() and pat.match(p.name)) if d.is_dir() else []
            for k, d in pools.items()
        }
        if not any(patients.values()):
            raise FileNotFoundError(
                f"expected the ACDC layout (patientNNN/Info.cfg, patientNNN/patientNNN_frameXX[_gt].nii.gz, "
                f"optionally under training/ and testing/) in {root}, found {_listing(root)}"
            )
        pseudo = [Case(p.name, meta={"dir": p}) for p in sum(patients.values(), [])]
        if has_sub and split == "test":
            chosen = [Case(p.name, meta={"dir": p}) for p in patients["testing"]]
            if not chosen:
                raise FileNotFoundError(f"ACDC split 'test' needs patients in {root / 'testing'}: {_listing(root / 'testing')}")
        elif has_sub:
            pool = [Case(p.name, meta={"dir": p}) for p in patients["training"]]
            chosen = split_cases(pool, split, val_fraction=val_fraction, seed=seed) if split != "all" else pseudo
        else:
            chosen = split_cases(pseudo, split, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
        cases = []
        want = ("ED", "ES") if frames == "both" else (frames,)
        for pc in chosen:
            d = pc.meta["dir"]
            info = _read_info_cfg(d / "Info.cfg")
            for phase in want:
                stem = f"{d.name}_frame{int(info[phase]):02d}"
                img, gt = d / f"{stem}.nii.gz", d / f"{stem}_gt.nii.gz"
                for f in (img, gt):
                    if not f.is_file():
                        raise FileNotFoundError(f"ACDC {phase} frame of {d.name} (Info.cfg {phase}: {info[phase]}) expects {f}")
                cases.append(Case(f"{d.name}_{phase}", image=(img,), label=gt, meta={"phase": phase}))
        super().__init__(
            cases,
            num_classes=4,
            class_names=["background", "right_ventricle", "myocardium", "left_ventricle"],
            in_channels=1,
            volume_dims=3,
            mode=mode,
            **kwargs,
        )


# ---------------------------------------------------------------------------------------
# Medical Segmentation Decathlon
# ---------------------------------------------------------------------------------------


class DecathlonDataset(_NiftiPairs):
    """Medical Segmentation Decathlon task folder (Antonelli et al., Nat Commun 2022).

    Expects ``root/dataset.json`` (its ``training`` list of ``{"image", "label"}``, its
    ``labels`` and ``modality``/``channel_names``), ``root/imagesTr`` and
    ``root/labelsTr``. Works for any task; 4D multi-modality images ``(x, y, z, m)``
    become channels ``(m, z, y, x)``. Only the labelled ``imagesTr`` cases are used;
    ``"train"``/``"val"``/``"test"`` are case-level splits of them.

    Args:
        root: the task folder (e.g. ``Task09_Spleen``).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
    """ + _VOLUME_DOC

    def __init__(
        self,
        root: str | Path,
        split: Literal["train", "val", "test", "all"] = "train",
        *,
        mode: Literal["whole", "slices", "patches"] = "slices",
        val_fraction: float = 0.0,
        test_fraction: float = 0.0,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        root = _require_dir(root, "Medical Segmentation Decathlon task")
        meta_path = root / "dataset.json"
        if not meta_path.is_file():
            raise FileNotFoundError(
                f"expected the Decathlon layout (dataset.json, imagesTr/, labelsTr/) in {root}, found {_listing(root)}"
            )
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"could not parse {meta_path}: {exc}") from exc
        labels = meta.get("labels")
        if not isinstance(labels, dict) or not labels:
            raise ValueError(f"expected a 'labels' mapping in {meta_path}, got {labels!r}")
        try:
            if all(isinstance(v, int) for v in labels.values()):  # nnU-Net v2 style name -> id
                by_id = {int(v): str(k) for k, v in labels.items()}
            else:
                by_id = {int(k): str(v) for k, v in labels.items()}
        except (TypeError, ValueError):
            raise ValueError(
                f"expected 'labels' in {meta_path} as integer id -> name ({{\"0\": \"background\"}}) or "
                f"name -> integer id ({{\"background\": 0}}), got {labels!r}"
            ) from None
        num_classes = max(by_id) + 1
        if sorted(by_id) != list(range(num_classes)):
            raise ValueError(f"expected consecutive label ids 0..{num_classes - 1} in {meta_path}, got {sorted(by_id)}")
        modality = meta.get("modality") or meta.get("channel_names") or {"0": "image"}
        try:
            self.modalities = [str(modality[k]) for k in sorted(modality, key=int)]
        except (TypeError, ValueError):
            raise ValueError(
                f"expected 'modality' (or 'channel_names') in {meta_path} as channel index -> name "
                f"({{\"0\": \"CT\"}}), got {modality!r}"
            ) from None
        entries = meta.get("training")
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"expected a non-empty 'training' list in {meta_path}")
        cases = []
        for i, e in enumerate(entries):
            if not (isinstance(e, dict) and isinstance(e.get("image"), str) and isinstance(e.get("label"), str)):
                raise ValueError(
                    f"expected each 'training' entry of {meta_path} to be {{\"image\": PATH, \"label\": PATH}}, "
                    f"got entry {i}: {e!r}"
                )
            img, lab = root / e["image"], root / e["label"]
            for f, what in ((img, "image"), (lab, "label")):
                if not f.is_file():
                    raise FileNotFoundError(f"{meta_path} lists {what} {e[what]!r}, but {f} does not exist")
            cases.append(Case(strip_suffix(img.name), image=(img,), label=lab))
        self.task = str(meta.get("name", root.name))
        super().__init__(
            split_cases(cases, split, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed),
            num_classes=num_classes,
            class_names=[by_id[i] for i in range(num_classes)],
            in_channels=len(self.modalities),
            volume_dims=3,
            mode=mode,
            **kwargs,
        )


# ---------------------------------------------------------------------------------------
# Any folder of pairs
# ---------------------------------------------------------------------------------------

_DEFAULT_CASE_REGEX = r"^(?P<case>.+?)(?:_(?:0000|img|image|seg|label|labels|mask|gt|manual1?))?$"


class FolderDataset(SegmentationDataset):
    """Image/label pairs (PNG, GIF, TIFF, JPEG, NIfTI) found by glob patterns.

    Image and label files are matched by a case id extracted from their names (without
    the suffix) by ``case_regex``: the named group ``case`` or else the first group. The
    default strips one trailing ``_0000``, ``_img``, ``_image``, ``_seg``, ``_label(s)``,
    ``_mask``, ``_gt`` or ``_manual1``, so ``images/a_0000.nii.gz`` pairs with
    ``labels/a.nii.gz`` and ``img/x.png`` with ``gt/x_mask.png``.

    2D images may be RGB (``in_channels=3``) or grey; NIfTI files may be 2D, 3D or 4D
    (channels). 2D images have spacing 1.

    With ``masks``, each case also has an evaluation mask (e.g. a retinal field of view),
    matched by the same case id and exposed as ``item["mask"]``: validation and
    ``edgewise eval`` score every metric inside it. Non-zero values are inside.

    Args:
        root: base folder of the patterns.
        images: glob for image files relative to ``root`` (e.g. ``"images/*.png"``).
        labels: glob for label files relative to ``root``.
        masks: optional glob for evaluation masks relative to ``root`` (e.g.
            ``"fov/*_mask.png"``); every image needs one.
        num_classes: classes including background; defaults to ``max(label_map) + 1``
            with ``label_map``, else 2.
        label_map: raw label value -> class, e.g. ``{0: 0, 255: 1}`` for 0/255 masks.
        class_names: defaults to ``["background", "class1", ...]``.
        case_regex: see above.
        split, val_fraction, test_fraction, seed: case-level split.
        mode: ``"whole"`` (default), ``"slices"`` (3D files only) or ``"patches"``
            (random 2D or 3D crops of ``patch_size``).
        size, normalize, **kwargs: see :class:`SegmentationDataset`.
    """

    def __init__(
        self,
        root: str | Path,
        images: str,
        labels: str,
        *,
        masks: str | None = None,
        num_classes: int | None = None,
        label_map: Mapping[int, int] | None = None,
        class_names: Sequence[str] | None = None,
        case_regex: str = _DEFAULT_CASE_REGEX,
        split: Literal["train", "val", "test", "all"] = "all",
        val_fraction: float = 0.0,
        test_fraction: float = 0.0,
        seed: int = 0,
        mode: Literal["whole", "slices", "patches"] = "whole",
        **kwargs: Any,
    ) -> None:
        root = _require_dir(root, "image/label")
        try:
            rx = re.compile(case_regex)
        except (re.error, TypeError) as exc:
            raise ValueError(f"option case_regex: expected a regular expression, got {case_regex!r} ({exc})") from None
        self.label_map = check_label_map(label_map)

        def by_case(pattern: str, what: str) -> dict[str, Path]:
            option = {"image": "images", "label": "labels", "mask": "masks"}[what]
            pattern = os.fspath(pattern) if isinstance(pattern, os.PathLike) else pattern
            if not isinstance(pattern, str) or not pattern or Path(pattern).is_absolute():
                raise ValueError(f"option {option}: expected a glob relative to root {root} (e.g. "
                                 f"'{option}/*.png'), got {pattern!r}")
            found = [p for p in sorted(root.glob(pattern)) if not p.name.startswith("._")
                     and p.name.lower().endswith(NIFTI_SUFFIXES + IMAGE_2D_SUFFIXES)]
            broken = [p for p in found if p.is_symlink() and not p.exists()]
            if broken:  # its case would be left out silently
                raise FileNotFoundError(f"{what} file {broken[0]} is a broken symbolic link (to "
                                        f"{os.readlink(broken[0])}; {len(broken)} such under {root})")
            files = [p for p in found if p.is_file()]
            if not files:
                raise FileNotFoundError(f"no {what} files match {pattern!r} under {root}: {_listing(root)}")
            out: dict[str, Path] = {}
            for p in files:
                m = rx.match(strip_suffix(p.name))
                if m is None:
                    raise ValueError(f"case_regex {case_regex!r} does not match {what} file {p}")
                key = m.group("case") if "case" in rx.groupindex else m.group(1) if rx.groups else m.group(0)
                if key in out:
                    raise ValueError(f"two {what} files give case id {key!r}: {out[key]} and {p}")
                out[key] = p
            return out

        imgs, labs = by_case(images, "image"), by_case(labels, "label")
        missing = sorted(set(imgs) - set(labs))
        if missing:
            raise FileNotFoundError(
                f"no label for image {imgs[missing[0]]} (case {missing[0]!r}; {len(missing)} unmatched) among {labels!r}"
            )
        fovs: dict[str, Path] = {}
        if masks is not None:
            fovs = by_case(masks, "mask")
            lacking = sorted(set(imgs) - set(fovs))
            if lacking:
                raise FileNotFoundError(
                    f"no mask for image {imgs[lacking[0]]} (case {lacking[0]!r}; {len(lacking)} unmatched) "
                    f"among {masks!r}"
                )
        cases = [Case(k, image=(imgs[k],), label=labs[k], mask=fovs.get(k)) for k in sorted(imgs)]
        if num_classes is None:
            num_classes = max(self.label_map.values()) + 1 if self.label_map else 2
        names = list(class_names) if class_names is not None else ["background"] + [f"class{c}" for c in range(1, num_classes)]
        first_img, _, ch_first = read_any(cases[0].image[0])
        first_lab_path = labs[cases[0].case_id]
        first_lab, _, _ = read_any(first_lab_path)
        dims = first_lab.ndim if is_nifti(first_lab_path) else 2
        if ch_first:
            in_ch = first_img.shape[0]
        elif not is_nifti(cases[0].image[0]) and first_img.ndim == 3:
            in_ch = first_img.shape[-1]
        else:
            in_ch = 1
        super().__init__(
            split_cases(cases, split, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed),
            num_classes=num_classes,
            class_names=names,
            in_channels=in_ch,
            volume_dims=dims,
            mode=mode,
            **kwargs,
        )

    def load_case(self, case: Case) -> Volume:
        img, spacing, ch_first = read_any(case.image[0])
        if ch_first:
            image = img
        elif is_nifti(case.image[0]) or img.ndim == 2:
            image = img[None]
        else:
            image = np.moveaxis(img, -1, 0)
        assert case.label is not None
        raw, lsp, lab_ch = read_any(case.label)
        if lab_ch:
            raise ValueError(f"expected a single-channel label in {case.label}, got shape {raw.shape}")
        label = to_label(raw, case.label, self.num_classes, self.label_map)
        if image.shape[1:] != label.shape:
            raise ValueError(
                f"image/label size mismatch for case {case.case_id}: image {case.image[0]} has spatial shape "
                f"{image.shape[1:]}, label {case.label} has {label.shape}"
            )
        mask = None
        if case.mask is not None:
            raw_mask, _, mask_ch = read_any(case.mask)
            if mask_ch:
                raise ValueError(f"expected a single-channel mask in {case.mask}, got shape {raw_mask.shape}")
            if raw_mask.ndim == label.ndim + 1:  # an RGB(A) picture of a mask
                raw_mask = raw_mask[..., 0]
            mask = np.asarray(raw_mask) != 0
        return Volume(image.astype(np.float32), label, tuple(float(s) for s in spacing), mask)

    def case_shape(self, case: Case) -> tuple[int, ...]:
        assert case.label is not None
        if is_nifti(case.label):
            return nifti_spatial_shape(case.label)
        return super().case_shape(case)
