"""Image and label files (NIfTI volumes, 2D images) read for the dataset classes.

Axis-order convention (used everywhere in :mod:`edgewise.data`): arrays are returned in
*array order* with the spatial axes of a NIfTI file **reversed**, i.e. a volume stored as
``(x, y, z)`` voxels comes back as ``(z, y, x)`` = ``(D, H, W)`` and its spacing is
``pixdim[1:4]`` reversed to match. A 4D NIfTI ``(x, y, z, m)`` (several modalities, as in the
Medical Segmentation Decathlon) comes back channels-first as ``(m, z, y, x)``. This is the
order SimpleITK/nnU-Net use, and it puts the through-plane axis of an axial acquisition
first, so 2D slicing along axis 0 gives in-plane slices.

2D image files (PNG, GIF, TIFF, JPEG) come back as ``(H, W)`` or ``(H, W, C)`` with unit
spacing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "IMAGE_2D_SUFFIXES",
    "NIFTI_SUFFIXES",
    "strip_suffix",
    "is_nifti",
    "read_image_2d",
    "read_label_2d",
    "read_nifti",
    "read_any",
    "nifti_spatial_shape",
    "to_label",
    "check_label_map",
]

IMAGE_2D_SUFFIXES = (".png", ".gif", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
NIFTI_SUFFIXES = (".nii.gz", ".nii")


def strip_suffix(name: str) -> str:
    """File name without its (possibly double, e.g. ``.nii.gz``) image suffix."""
    low = name.lower()
    for suf in NIFTI_SUFFIXES + IMAGE_2D_SUFFIXES:
        if low.endswith(suf):
            return name[: -len(suf)]
    return Path(name).stem


def is_nifti(path: str | Path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"expected a file at {path}, but it does not exist")


def read_image_2d(path: str | Path) -> np.ndarray:
    """Read a 2D image file as ``(H, W)`` or ``(H, W, C)``.

    TIFF goes through tifffile first (keeps 16-bit and float data); LZW/Deflate TIFFs
    (DRIVE's images) need ``imagecodecs`` there, so pillow, which decodes them natively,
    is the fallback. Palette images (DRIVE's GIFs) come back as palette indices converted
    to grey levels.
    """
    path = Path(path)
    _check_exists(path)
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        try:
            import tifffile

            arr = np.asarray(tifffile.imread(path))
            return _squeeze_2d(arr, path)
        except Exception:  # noqa: BLE001 - fall back to pillow for codecs tifffile lacks
            pass
    try:
        from PIL import Image

        with Image.open(path) as im:
            if im.mode == "P":
                im = im.convert("RGB") if _palette_is_colour(im) else im.convert("L")
            arr = np.asarray(im)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"could not read image file {path}: {exc}") from exc
    return _squeeze_2d(arr, path)


def read_label_2d(path: str | Path) -> np.ndarray:
    """Read a 2D label image: as :func:`read_image_2d`, except that a palette image with
    colours gives its palette indices, the class values a label writer stores (the colours
    are for viewing: DRIVE's ``2nd_manual`` PNGs hold indices 0/1 drawn in near-black and
    near-white). A grey palette (DRIVE's GIFs) still gives its grey levels."""
    path = Path(path)
    _check_exists(path)
    try:
        from PIL import Image

        with Image.open(path) as im:
            if im.mode == "P" and _palette_is_colour(im):
                return np.asarray(im)
    except Exception:  # noqa: BLE001 - not a pillow image: read_image_2d says why
        pass
    return read_image_2d(path)


def _palette_is_colour(im) -> bool:
    rgb = np.asarray(im.convert("RGB"))
    return not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


def _squeeze_2d(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]  # alpha carries no image content
    if arr.ndim not in (2, 3):
        raise ValueError(f"expected a 2D image (H, W) or (H, W, C) in {path}, got shape {arr.shape}")
    return arr


def read_nifti(path: str | Path) -> tuple[np.ndarray, tuple[float, ...]]:
    """Read a NIfTI file in array order (spatial axes reversed, extra 4th axis first).

    Returns:
        ``(array, spacing)`` where ``array`` is ``(*spatial)`` for 2D/3D files or
        ``(C, *spatial)`` for 4D files, and ``spacing`` has one entry per spatial axis in
        the same order as the array (``pixdim`` reversed).
    """
    path = Path(path)
    _check_exists(path)
    try:
        import nibabel as nib

        from nibabel.spatialimages import SpatialImage

        img = nib.load(str(path))
        if not isinstance(img, SpatialImage):  # CIFTI-2, GIFTI: no voxel spacing
            raise ValueError(f"not a spatial image: {type(img).__name__}")
        data = np.asarray(img.dataobj)
        zooms = tuple(float(z) for z in img.header.get_zooms())
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"could not read NIfTI file {path}: {exc}") from exc
    if data.ndim in (2, 3, 4):
        spatial = min(data.ndim, 3)
        bad = [z for z in zooms[:spatial] if not (np.isfinite(z) and z > 0)]
        if bad:
            raise ValueError(
                f"NIfTI file {path} has pixel sizes {zooms[:spatial]} in its header (pixdim): expected "
                "finite sizes > 0 in mm; fix the header (e.g. nibabel's header.set_zooms)"
            )
    if data.ndim == 4:
        spacing = zooms[:3][::-1]
        return np.ascontiguousarray(data.transpose(3, 2, 1, 0)), spacing
    if data.ndim in (2, 3):
        spacing = zooms[: data.ndim][::-1]
        return np.ascontiguousarray(data.transpose(*range(data.ndim - 1, -1, -1))), spacing
    raise ValueError(f"expected a 2D, 3D or 4D NIfTI image in {path}, got shape {data.shape}")


def nifti_spatial_shape(path: str | Path) -> tuple[int, ...]:
    """Spatial shape in array order, from the header only (no voxel data read)."""
    path = Path(path)
    _check_exists(path)
    try:
        import nibabel as nib

        from nibabel.dataobj_images import DataobjImage

        img = nib.load(str(path))
        if not isinstance(img, DataobjImage):  # GIFTI: no array shape
            raise ValueError(f"not an array image: {type(img).__name__}")
        shape = tuple(int(s) for s in img.shape)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"could not read NIfTI header of {path}: {exc}") from exc
    return shape[:3][::-1] if len(shape) == 4 else shape[::-1]


def read_any(path: str | Path) -> tuple[np.ndarray, tuple[float, ...], bool]:
    """Read a 2D image or a NIfTI file.

    Returns:
        ``(array, spacing, channels_first)``: for NIfTI, ``channels_first`` tells whether
        the array has a leading channel axis (4D file); for 2D images a trailing channel
        axis may be present (``channels_first`` is False, check ``array.ndim``).
    """
    path = Path(path)
    if is_nifti(path):
        arr, spacing = read_nifti(path)
        return arr, spacing, len(spacing) < arr.ndim
    if path.suffix.lower() in IMAGE_2D_SUFFIXES:
        arr = read_image_2d(path)
        return arr, (1.0, 1.0), False
    raise ValueError(
        f"unsupported file type for {path}: expected one of "
        f"{', '.join(NIFTI_SUFFIXES + IMAGE_2D_SUFFIXES)}"
    )


def to_label(
    arr: np.ndarray,
    path: str | Path,
    num_classes: int,
    label_map: Mapping[int, int] | None = None,
) -> np.ndarray:
    """Convert a raw label array to int64 class indices in ``[0, num_classes)``.

    Raises:
        ValueError: naming ``path`` if the values are not integers, are not keys of
            ``label_map``, or fall outside ``[0, num_classes)``.
    """
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and not is_nifti(path):
        if not all(np.array_equal(arr[..., 0], arr[..., c]) for c in range(1, 3)):
            raise ValueError(f"expected a single-channel label image in {path}, got colour shape {arr.shape}")
        arr = arr[..., 0]
    if arr.dtype.kind == "f":
        rounded = np.rint(arr)
        if not np.allclose(arr, rounded, atol=1e-3):
            raise ValueError(f"expected integer label values in {path}, got non-integer values")
        arr = rounded
    arr = arr.astype(np.int64, copy=False)
    values = np.unique(arr)
    if label_map is not None:
        unknown = sorted(set(values.tolist()) - set(int(k) for k in label_map))
        if unknown:
            raise ValueError(
                f"unexpected label values {unknown} in {path}: expected values in the label map "
                f"{sorted(int(k) for k in label_map)}"
            )
        lut_size = int(values.max()) + 1
        lut = np.zeros(max(lut_size, 1), dtype=np.int64)
        for k, v in label_map.items():
            if int(k) < lut_size and int(k) >= 0:
                lut[int(k)] = int(v)
        if values.min() < 0:
            raise ValueError(f"unexpected negative label values in {path}")
        arr = lut[arr]
        values = np.unique(arr)
    bad = values[(values < 0) | (values >= num_classes)]
    if bad.size:
        raise ValueError(
            f"unexpected label values {bad.tolist()} in {path}: expected integers in "
            f"[0, {num_classes}) (num_classes={num_classes})"
        )
    return arr


def check_label_map(label_map: Any, option: str = "label_map") -> dict[int, int] | None:
    """``label_map`` as ``{raw value: class}`` integers, or a ``ValueError`` naming the option.

    YAML reads ``{0:0,255:1}`` (no space after the colons) as the keys ``"0:0"`` and
    ``"255:1"`` with no values; the message says so.

    Example:
        >>> check_label_map({"0": 0, 255: "1"})
        {0: 0, 255: 1}
    """
    if label_map is None:
        return None
    hint = " (YAML needs a space after each colon: {0: 0, 255: 1})" if isinstance(label_map, Mapping) and any(
        isinstance(k, str) and ":" in k for k in label_map) else ""
    try:
        if not isinstance(label_map, Mapping):
            raise TypeError
        return {int(k): int(v) for k, v in label_map.items()}
    except (TypeError, ValueError):
        raise ValueError(
            f"option {option}: expected a mapping of integers, raw value -> class, such as "
            f"{{0: 0, 255: 1}}{hint}, got {label_map!r}"
        ) from None
