"""MONAI transforms that add edgewise distance maps to a data pipeline.

Each map has an array transform working on one channel-first item ``(C, *spatial)`` and a
dictionary twin (``...d``) that reads ``keys`` and writes the map under a new key
(``"label"`` -> ``"label_sdm"`` by default), following MONAI's conventions (``keys``,
``allow_missing_keys``, ``...D``/``...Dict`` aliases). Spacing comes, in this order, from
the call, the constructor, a dictionary entry named by ``spacing_key``, or the item's
``MetaTensor`` affine; without any of them the maps are in voxel units.

Put these transforms after the spatial augmentations (crops, flips, elastic deformation):
a map computed before a deformation is not the distance map of the deformed label. They
run on whatever device the label is on, so ``EnsureTyped(..., device="cuda")`` before them
computes maps on the GPU.

Importing this module imports MONAI; nothing else in edgewise does.

Example:
    >>> import torch
    >>> from monai.data import MetaTensor
    >>> from monai.transforms import Compose
    >>> label = MetaTensor(torch.zeros(1, 8, 8), affine=torch.diag(torch.tensor([0.5, 2.0, 1.0, 1.0])))
    >>> label[0, 2:6, 3:5] = 1
    >>> out = Compose([SignedDistanced(keys="label", num_classes=2)])({"label": label})
    >>> out["label_sdm"].shape
    torch.Size([2, 8, 8])
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from typing import Any, Literal, cast

import numpy as np
import torch
from torch import Tensor

try:
    from monai.config import KeysCollection
    from monai.transforms import MapTransform, Transform
    from monai.utils import TransformBackends, convert_to_dst_type
except ImportError as err:  # pragma: no cover - exercised only without MONAI
    raise ImportError(
        "edgewise.integrations.monai needs MONAI: pip install 'monai>=1.3' "
        "(or pip install 'edgewise[train]')"
    ) from err

from .. import maps as _maps
from .metatensor import is_metatensor, item_spacing_from_meta, spacing_from_meta

__all__ = [
    "spacing_from_meta",
    "item_spacing_from_meta",
    "SignedDistance",
    "SignedDistanced",
    "SignedDistanceD",
    "SignedDistanceDict",
    "UnsignedDistance",
    "UnsignedDistanced",
    "UnsignedDistanceD",
    "UnsignedDistanceDict",
    "RRWMap",
    "RRWMapd",
    "RRWMapD",
    "RRWMapDict",
    "PenaltyMap",
    "PenaltyMapd",
    "PenaltyMapD",
    "PenaltyMapDict",
]

SpacingArg = float | Sequence[float] | Tensor | np.ndarray | None


def _plain(img: Any) -> Tensor:
    if is_metatensor(img):
        return img.as_tensor()
    if isinstance(img, Tensor):
        return img
    if isinstance(img, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(img))
    raise TypeError(
        f"expected a channel-first item as torch.Tensor, MetaTensor or numpy.ndarray, "
        f"got {type(img).__name__}"
    )


class _DistanceMap(Transform):
    """Shared body of the array transforms: one item in, one map ``(K, *spatial)`` out."""

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]
    _map_name: str = ""

    def __init__(
        self,
        num_classes: int | None = None,
        classes: Sequence[int] | None = None,
        spacing: SpacingArg = None,
        dtype: torch.dtype = torch.float32,
        **map_kwargs: Any,
    ) -> None:
        fn = getattr(_maps, self._map_name, None)
        if fn is None:
            raise NotImplementedError(
                f"edgewise.maps.{self._map_name} is not available in this edgewise version"
            )
        self._fn: Callable[..., Tensor] = fn
        params = inspect.signature(fn).parameters
        self._takes_spacing = "spacing" in params
        self._takes_dtype = "dtype" in params
        if classes is not None and "classes" not in params:
            raise TypeError(f"edgewise.maps.{self._map_name} has no classes option")
        unknown = sorted(k for k in map_kwargs if k not in params)
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: unexpected option(s) {unknown} for "
                f"edgewise.maps.{self._map_name}, which takes {sorted(params)}"
            )
        self.num_classes = num_classes
        self.classes = None if classes is None else list(classes)
        self.spacing = spacing
        self.dtype = dtype
        self.map_kwargs = map_kwargs

    def __call__(self, img: Any, spacing: SpacingArg = None) -> Any:
        """Map of one channel-first item.

        Args:
            img: ``(1, *spatial)`` index map when ``num_classes`` is set, otherwise a
                ``(C, *spatial)`` one-hot; tensor, ``MetaTensor`` or numpy array, 2D or 3D.
            spacing: spacing per spatial axis (array order) overriding the constructor's and
                the metadata's.

        Returns:
            the map ``(K, *spatial)`` (K = number of selected classes; 1 for
            :class:`PenaltyMap`, one map for all classes) of the same type as
            ``img``; a ``MetaTensor`` keeps ``img``'s metadata (affine included).
        """
        t = _plain(img)
        nd = t.ndim - 1
        if nd not in (2, 3):
            raise ValueError(
                f"expected a channel-first item (C, H, W) or (C, D, H, W), got shape {tuple(t.shape)}"
            )
        if self.num_classes is not None and t.shape[0] != 1:
            raise ValueError(
                f"with num_classes={self.num_classes}, expected an index map of shape (1, *spatial), "
                f"got {tuple(t.shape)}; leave num_classes=None for a one-hot (C, *spatial) item"
            )
        if spacing is None:
            spacing = self.spacing
        if spacing is None:
            spacing = item_spacing_from_meta(img, nd)
        kwargs: dict[str, Any] = dict(self.map_kwargs)
        kwargs["num_classes"] = self.num_classes
        if self.classes is not None:
            kwargs["classes"] = self.classes
        kwargs["spatial_dims"] = nd
        if self._takes_dtype:
            kwargs["dtype"] = self.dtype
        if self._takes_spacing:
            out = self._fn(t.unsqueeze(0), spacing, **kwargs)[0]
        else:
            out = self._fn(t.unsqueeze(0), **kwargs)[0]
        out = out.to(self.dtype)
        result, *_ = convert_to_dst_type(out, img, dtype=self.dtype)
        return result


class SignedDistance(_DistanceMap):
    """Signed distance map of one item (:func:`edgewise.maps.signed_distance`).

    Negative inside each class, positive outside, zero on the inner boundary, in physical
    units when spacing is known; the input of :class:`edgewise.losses.BoundaryLoss`'s
    ``dist_map=``.

    Args:
        num_classes: classes of an index-map item ``(1, *spatial)``; ``None`` for a one-hot
            item ``(C, *spatial)``.
        classes: channels to keep (all by default).
        spacing: spacing per spatial axis in array order; ``None`` reads the ``MetaTensor``
            affine (unit spacing for plain arrays).
        convention: ``"boundary"`` (zero on the inner boundary) or ``"livia"`` (the
            LIVIAETS/boundary-loss reference map).
        backend: distance transform backend (``"auto"`` picks the fastest available).
        dtype: output dtype.

    Example:
        >>> import torch
        >>> item = torch.zeros(1, 5, 5, dtype=torch.long)
        >>> item[0, 1:4, 1:4] = 1
        >>> SignedDistance(num_classes=2, classes=[1])(item)[0, 2]
        tensor([ 1.,  0., -1.,  0.,  1.])
    """

    _map_name = "signed_distance"

    def __init__(
        self,
        num_classes: int | None = None,
        classes: Sequence[int] | None = None,
        spacing: SpacingArg = None,
        convention: Literal["boundary", "livia"] = "boundary",
        backend: str = "auto",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(
            num_classes, classes, spacing, dtype, convention=convention, backend=backend
        )


class UnsignedDistance(_DistanceMap):
    """Unsigned distance to each class's boundary (:func:`edgewise.maps.unsigned_distance`).

    Args:
        num_classes: classes of an index-map item ``(1, *spatial)``; ``None`` for one-hot.
        classes: channels to keep (all by default).
        spacing: spacing per spatial axis; ``None`` reads the ``MetaTensor`` affine.
        backend: distance transform backend.
        dtype: output dtype.
    """

    _map_name = "unsigned_distance"

    def __init__(
        self,
        num_classes: int | None = None,
        classes: Sequence[int] | None = None,
        spacing: SpacingArg = None,
        backend: str = "auto",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(num_classes, classes, spacing, dtype, backend=backend)


class RRWMap(_DistanceMap):
    """Rectified region-wise map of one item (:func:`edgewise.maps.rrw_map`).

    Valverde & Tohka's RRW map for :class:`edgewise.losses.RegionWiseLoss`: in ``[-1, 0)``
    inside each class, ``+1`` elsewhere.

    Args:
        num_classes: classes of an index-map item ``(1, *spatial)``; ``None`` for one-hot.
        classes: channels to keep (all by default).
        spacing: spacing per spatial axis; ``None`` reads the ``MetaTensor`` affine.
        dtype: output dtype.
        **map_kwargs: further options of :func:`edgewise.maps.rrw_map`.
    """

    _map_name = "rrw_map"

    def __init__(
        self,
        num_classes: int | None = None,
        classes: Sequence[int] | None = None,
        spacing: SpacingArg = None,
        dtype: torch.dtype = torch.float32,
        **map_kwargs: Any,
    ) -> None:
        super().__init__(num_classes, classes, spacing, dtype, **map_kwargs)


class PenaltyMap(_DistanceMap):
    """Boundary penalty map of one item (:func:`edgewise.maps.penalty_map`).

    Caliva et al.'s weight ``Phi`` for :class:`edgewise.losses.DistancePenalizedCELoss`:
    one map ``(1, *spatial)`` for all classes, 1 on every class boundary falling to 0 at
    each class's deepest point.

    Args:
        num_classes: classes of an index-map item ``(1, *spatial)``; ``None`` for a one-hot
            item that is a partition (every element in exactly one class).
        spacing: spacing per spatial axis; ``None`` reads the ``MetaTensor`` affine.
        dtype: output dtype.
        **map_kwargs: further options of :func:`edgewise.maps.penalty_map`.
    """

    _map_name = "penalty_map"

    def __init__(
        self,
        num_classes: int | None = None,
        spacing: SpacingArg = None,
        dtype: torch.dtype = torch.float32,
        **map_kwargs: Any,
    ) -> None:
        if "classes" in map_kwargs:
            raise TypeError("PenaltyMap makes one map for all classes: it has no classes option")
        super().__init__(num_classes, None, spacing, dtype, **map_kwargs)


class _DistanceMapd(MapTransform):
    """Shared body of the dictionary transforms."""

    backend = _DistanceMap.backend
    _array_cls: type[_DistanceMap] = _DistanceMap
    _default_postfix: str = ""

    def __init__(
        self,
        keys: KeysCollection,
        output_keys: KeysCollection | None,
        postfix: str | None,
        spacing_key: Hashable | None,
        allow_missing_keys: bool,
        transform: _DistanceMap,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if output_keys is None:
            post = self._default_postfix if postfix is None else postfix
            if not isinstance(post, str) or not post:
                raise ValueError(f"expected postfix a non-empty string, got {post!r}")
            self.output_keys: tuple[Hashable, ...] = tuple(f"{k}_{post}" for k in self.keys)
        else:
            if postfix is not None:
                raise ValueError("give either output_keys or postfix, not both")
            # MONAI's KeysCollection: one key (str, int) or a collection of keys
            outs = ((output_keys,) if isinstance(output_keys, (str, int))
                    else tuple(cast("Collection[Hashable]", output_keys)))
            if len(outs) != len(self.keys):
                raise ValueError(
                    f"expected one output key per key ({len(self.keys)}), got {len(outs)}: {outs}"
                )
            self.output_keys = outs
        self.spacing_key = spacing_key
        self.transform = transform

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        spacing = None
        if self.spacing_key is not None and self.transform.spacing is None:
            if self.spacing_key not in d:
                raise KeyError(
                    f"spacing_key {self.spacing_key!r} of {type(self).__name__} is missing; "
                    f"the data has keys {list(d)}"
                )
            spacing = d[self.spacing_key]
        for key, out_key in self.key_iterator(d, self.output_keys):
            d[out_key] = self.transform(d[key], spacing)
        return d


_DICT_ARGS_DOC = """        keys: keys of the label items (``(1, *spatial)`` index maps with ``num_classes``,
            one-hot ``(C, *spatial)`` otherwise).
        output_keys: where to write each map; default ``f"{{key}}_{{postfix}}"``.
        postfix: suffix for the default output keys (default ``"{default}"``).
        spacing_key: key of a per-item spacing entry (array order) to use instead of the
            ``MetaTensor`` affine; ignored when ``spacing`` is given.
        allow_missing_keys: skip absent keys instead of raising ``KeyError``."""


class SignedDistanced(_DistanceMapd):
    """Dictionary twin of :class:`SignedDistance`; writes ``"<key>_sdm"`` by default.

    Args:
{args}
        num_classes, classes, spacing, convention, backend, dtype: as in
            :class:`SignedDistance`.

    Example:
        >>> import torch
        >>> d = {{"label": torch.zeros(1, 6, 6, dtype=torch.long)}}
        >>> d["label"][0, 2:4, 2:4] = 1
        >>> SignedDistanced("label", num_classes=2)(d)["label_sdm"].shape
        torch.Size([2, 6, 6])
    """

    _default_postfix = "sdm"

    def __init__(
        self,
        keys: KeysCollection,
        num_classes: int | None = None,
        classes: Sequence[int] | None = None,
        spacing: SpacingArg = None,
        convention: Literal["boundary", "livia"] = "boundary",
        backend: str = "auto",
        dtype: torch.dtype = torch.float32,
        output_keys: KeysCollection | None = None,
        postfix: str | None = None,
        spacing_key: Hashable | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        tr = SignedDistance(num_classes, classes, spacing, convention, backend, dtype)
        super().__init__(keys, output_keys, postfix, spacing_key, allow_missing_keys, tr)


class UnsignedDistanced(_DistanceMapd):
    """Dictionary twin of :class:`UnsignedDistance`; writes ``"<key>_udm"`` by default.

    Args:
{args}
        num_classes, classes, spacing, backend, dtype: as in :class:`UnsignedDistance`.
    """

    _default_postfix = "udm"

    def __init__(
        self,
        keys: KeysCollection,
        num_classes: int | None = None,
        classes: Sequence[int] | None = None,
        spacing: SpacingArg = None,
        backend: str = "auto",
        dtype: torch.dtype = torch.float32,
        output_keys: KeysCollection | None = None,
        postfix: str | None = None,
        spacing_key: Hashable | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        tr = UnsignedDistance(num_classes, classes, spacing, backend, dtype)
        super().__init__(keys, output_keys, postfix, spacing_key, allow_missing_keys, tr)


class RRWMapd(_DistanceMapd):
    """Dictionary twin of :class:`RRWMap`; writes ``"<key>_rrw"`` by default.

    Args:
{args}
        num_classes, classes, spacing, dtype, map_kwargs: as in :class:`RRWMap`.
    """

    _default_postfix = "rrw"

    def __init__(
        self,
        keys: KeysCollection,
        num_classes: int | None = None,
        classes: Sequence[int] | None = None,
        spacing: SpacingArg = None,
        dtype: torch.dtype = torch.float32,
        output_keys: KeysCollection | None = None,
        postfix: str | None = None,
        spacing_key: Hashable | None = None,
        allow_missing_keys: bool = False,
        **map_kwargs: Any,
    ) -> None:
        tr = RRWMap(num_classes, classes, spacing, dtype, **map_kwargs)
        super().__init__(keys, output_keys, postfix, spacing_key, allow_missing_keys, tr)


class PenaltyMapd(_DistanceMapd):
    """Dictionary twin of :class:`PenaltyMap`; writes ``"<key>_penalty"`` by default.

    Args:
{args}
        num_classes, spacing, dtype, map_kwargs: as in :class:`PenaltyMap`.
    """

    _default_postfix = "penalty"

    def __init__(
        self,
        keys: KeysCollection,
        num_classes: int | None = None,
        spacing: SpacingArg = None,
        dtype: torch.dtype = torch.float32,
        output_keys: KeysCollection | None = None,
        postfix: str | None = None,
        spacing_key: Hashable | None = None,
        allow_missing_keys: bool = False,
        **map_kwargs: Any,
    ) -> None:
        tr = PenaltyMap(num_classes, spacing, dtype, **map_kwargs)
        super().__init__(keys, output_keys, postfix, spacing_key, allow_missing_keys, tr)


for _cls in (SignedDistanced, UnsignedDistanced, RRWMapd, PenaltyMapd):
    _cls.__doc__ = (_cls.__doc__ or "").format(
        args=_DICT_ARGS_DOC.format(default=_cls._default_postfix)
    )

SignedDistanceD = SignedDistanceDict = SignedDistanced
UnsignedDistanceD = UnsignedDistanceDict = UnsignedDistanced
RRWMapD = RRWMapDict = RRWMapd
PenaltyMapD = PenaltyMapDict = PenaltyMapd
