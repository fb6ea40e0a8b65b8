"""``build_dataset``: one entry point for configs (``data: {name: drive, root: ...}``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from edgewise.data.augment import Augment
from edgewise.data.base import SegmentationDataset, Split

__all__ = ["build_dataset", "DATASET_NAMES", "make_augment", "subject_of"]

DATASET_NAMES = ("synthetic", "drive", "acdc", "decathlon", "folder")
# the folder each reader expects, as its errors name it
_LAYOUTS = {"drive": "DRIVE", "acdc": "ACDC", "decathlon": "Medical Segmentation Decathlon task",
            "folder": "image/label"}


def build_dataset(name: str, split: str, **options: Any) -> SegmentationDataset:
    """Build a dataset by name.

    Args:
        name: ``"synthetic"``, ``"drive"``, ``"acdc"``, ``"decathlon"`` or ``"folder"``.
        split: ``"train"``, ``"val"``, ``"test"`` (and ``"all"`` for the readers).
        **options: keyword arguments of the dataset class (see ``docs/data.md``), plus:

            * ``augment``: ``True`` (default :class:`Augment`), a dict of
              :class:`Augment` arguments, or ``False``/``None``. Applied to the
              ``"train"`` split only, so validation and test stay deterministic.
            * ``n_val`` (synthetic only): number of samples for ``"val"``/``"test"``
              (default ``max(8, n // 4)``); ``n`` is the ``"train"`` count (default 64).

    Example:
        >>> ds = build_dataset("synthetic", "val", n=32, shape=(64, 64), seed=1)
        >>> len(ds), ds.num_classes, ds.in_channels, ds.spatial_dims
        (8, 2, 1, 2)
    """
    key = name.lower()
    if key not in DATASET_NAMES:
        raise ValueError(f"expected dataset name in {DATASET_NAMES}, got {name!r}")
    options = dict(options)
    augment = options.pop("augment", None)
    if augment not in (None, False, True) and not isinstance(augment, dict):
        raise ValueError(f"expected augment to be a bool or a dict of Augment options, got {augment!r}")
    # built on every split, so that a typo in its options fails on val and test too
    transform = make_augment(augment)
    if transform is not None and split == "train":
        if "transform" in options:
            raise ValueError("give either augment= or transform=, not both")
        options["transform"] = transform
    for k in ("size", "shape", "patch_size"):
        if k in options and options[k] is not None:
            options[k] = _positive_sizes(k, options[k])
    if key != "synthetic":
        if "root" not in options:
            raise ValueError(f"dataset {name!r} needs root= (the folder you downloaded)")
        # a missing folder is the first thing to say, before the options of a reader
        check_root(key, options["root"])
    _check_options(key, options)

    if key == "synthetic":
        from edgewise.data.synthetic import SyntheticDataset

        n = int(options.pop("n", 64))
        n_val = options.pop("n_val", None)
        if n_val is not None and (isinstance(n_val, bool) or not isinstance(n_val, int) or n_val < 1):
            raise ValueError(f"dataset option n_val: expected an integer >= 1 (the val/test count), got {n_val!r}")
        if split != "train":
            n = int(n_val) if n_val is not None else max(8, n // 4)
        return SyntheticDataset(n=n, split=split, **options)
    # a reader takes a Split and checks it itself (ValueError naming the splits)
    reader_split = cast(Split, split)
    if key == "drive":
        from edgewise.data.readers import DriveDataset

        return DriveDataset(split=reader_split, **options)
    if key == "acdc":
        from edgewise.data.readers import ACDCDataset

        return ACDCDataset(split=reader_split, **options)
    if key == "decathlon":
        from edgewise.data.readers import DecathlonDataset

        return DecathlonDataset(split=reader_split, **options)
    from edgewise.data.readers import FolderDataset

    return FolderDataset(split=reader_split, **options)


def make_augment(augment: Any) -> Augment | None:
    """The :class:`Augment` of a dataset's ``augment`` option (``True``: the defaults, a
    mapping: its arguments; ``None``/``False``: none), or a ``ValueError`` naming a bad one."""
    if augment is None or augment is False:
        return None
    if augment is True:
        return Augment()
    if not isinstance(augment, dict):
        raise ValueError(f"expected augment to be a bool or a dict of Augment options, got {augment!r}")
    import inspect

    accepted = [n for n in inspect.signature(Augment.__init__).parameters if n != "self"]
    unknown = sorted(set(augment) - set(accepted))
    if unknown:
        raise ValueError(f"unknown augment option(s) {unknown}; expected some of {accepted}")
    return Augment(**augment)


def subject_of(name: str | None, case_id: str) -> str:
    """The subject a test case of dataset ``name`` (a :data:`DATASET_NAMES` entry) belongs to.

    The reader's :meth:`~edgewise.data.base.SegmentationDataset.subject_of`: ACDC maps
    ``patientNNN_ED`` and ``patientNNN_ES`` to ``patientNNN``; every other reader (and an
    unknown or missing name) keeps the case as its own subject. Nothing is read from disk.

    Example:
        >>> subject_of("acdc", "patient007_ED"), subject_of("drive", "test_01")
        ('patient007', 'test_01')
    """
    key = (name or "").lower()
    if key == "acdc":
        from edgewise.data.readers import ACDCDataset

        return ACDCDataset.subject_of(case_id)
    return SegmentationDataset.subject_of(case_id)


def check_root(name: str, root: str | Path) -> None:
    """Raise ``FileNotFoundError`` unless ``root`` is a folder, worded as reader ``name``'s
    own check (``"expected a DRIVE folder at ..., but it does not exist"``)."""
    from edgewise.data.readers import _require_dir

    if name.lower() not in _LAYOUTS:
        raise ValueError(f"expected dataset name in {DATASET_NAMES}, got {name!r}")
    _require_dir(root, _LAYOUTS[name.lower()])


def _positive_sizes(key: str, value: Any) -> tuple[int, ...]:
    bad = isinstance(value, (str, bytes)) or not hasattr(value, "__iter__")
    sizes = [] if bad else list(value)
    if bad or not sizes or any(isinstance(s, bool) or not isinstance(s, (int, float)) or s != int(s) or s < 1
                               for s in sizes):
        raise ValueError(f"dataset option {key}: expected a list of integers >= 1 (one per axis), got {value!r}")
    return tuple(int(s) for s in sizes)


def _check_options(key: str, options: dict[str, Any]) -> None:
    """Name an unknown or missing option here rather than let a constructor's TypeError say
    which ``__init__`` it was."""
    import inspect

    from edgewise.data import readers, synthetic

    cls: type[SegmentationDataset] = {
        "synthetic": synthetic.SyntheticDataset, "drive": readers.DriveDataset, "acdc": readers.ACDCDataset,
        "decathlon": readers.DecathlonDataset, "folder": readers.FolderDataset}[key]
    accepted: dict[str, inspect.Parameter] = {}
    for c in (cls, SegmentationDataset):
        for n, prm in inspect.signature(c.__init__).parameters.items():
            if n != "self" and prm.kind not in (prm.VAR_KEYWORD, prm.VAR_POSITIONAL):
                accepted.setdefault(n, prm)
    own = set(inspect.signature(cls.__init__).parameters)
    # the base class's parameters that a reader sets itself are not the user's to give
    internal = {"split", "cases", "num_classes", "class_names", "in_channels", "volume_dims"} - (own - {"split"})
    accepted = {n: prm for n, prm in accepted.items() if n not in internal or n == "split"}
    # synthetic: n_val is read by build_dataset itself
    unknown = sorted(set(options) - set(accepted) - ({"n_val"} if key == "synthetic" else set()))
    if unknown:
        names = sorted(n for n in accepted if n != "split")
        raise ValueError(f"unknown dataset option(s) {unknown} for dataset {key!r}; expected some of {names}")
    missing = [n for n, prm in inspect.signature(cls.__init__).parameters.items()
               if n not in ("self", "split", "root") and prm.default is prm.empty
               and prm.kind not in (prm.VAR_KEYWORD, prm.VAR_POSITIONAL) and n not in options]
    if missing:
        raise ValueError(f"dataset {key!r} needs option(s) {missing}")
