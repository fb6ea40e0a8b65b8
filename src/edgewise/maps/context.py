"""Share distance transforms between the maps of one target within a block of code.

Several losses of one training step (boundary, distance-penalised CE, RRW, Hausdorff) each
build maps of the same target. Inside ``with shared_maps():`` every per-class transform is
stored under a digest of the class mask it was computed from (with the spacing, backend
and kind of transform), so the second map that needs it reads it instead of computing it
again. :class:`~edgewise.losses.CompoundLoss` opens such a block around its terms.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import torch
from torch import Tensor

__all__ = ["MapContext", "shared_maps"]

Key = tuple[object, ...]


class MapContext:
    """Per-class transforms computed in a :func:`shared_maps` block.

    Attributes:
        computed: transforms computed in the block (a multi-label transform of one sample
            counts once).
        reused: per-class transforms read from the block instead of computed.
    """

    def __init__(self) -> None:
        self._maps: dict[Key, Tensor] = {}
        self._last_keys: tuple[Tensor, Tensor, str, str, list[list[Key]]] | None = None
        self._last_digests: tuple[Tensor, int, list[bytes]] | None = None
        self.computed = 0
        self.reused = 0

    def __len__(self) -> int:
        return len(self._maps)

    def keys_for(self, masks: Tensor, spacing: Tensor, backend: str, kind: str) -> list[list[Key]]:
        """Keys of the per-class masks ``(B, C, *spatial)``: a BLAKE2 digest of each mask's
        packed bits, its shape, the sample's spacing, the backend and the kind.

        The keys of the last call are kept while its tensors are: asking whether a map is
        stored and then reading or storing it (:func:`all_cached`, :func:`per_class_cached`)
        hashes the masks once."""
        last = self._last_keys
        if last is not None and last[0] is masks and last[1] is spacing and last[2:4] == (backend, kind):
            return last[4]
        b, c = masks.shape[:2]
        spatial = tuple(masks.shape[2:])
        digests = self._digests(masks)
        sp = spacing.detach().cpu().double().numpy()
        keys: list[list[Key]] = [
            [(kind, backend, spatial, tuple(sp[i].tolist()), digests[i * c + j]) for j in range(c)]
            for i in range(b)
        ]
        self._last_keys = (masks, spacing, backend, kind, keys)
        return keys

    def _digests(self, masks: Tensor) -> list[bytes]:
        """The masks' digests, kept for the last masks tensor while it is unchanged (its
        version counter): the terms of a compound loss given the same target masks (its
        boundary and RRW terms, #27) ask for different kinds of transform of them and hash
        them once."""
        # inference tensors keep no version counter: hashed each time
        version = None if masks.is_inference() else masks._version
        last = self._last_digests
        if last is not None and version is not None and last[0] is masks and last[1] == version:
            return last[2]
        arr = masks.detach().cpu().numpy()
        b, c = arr.shape[:2]
        packed = np.packbits(arr.reshape(b * c, -1), axis=1)
        digests = [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in packed]
        self._last_digests = None if version is None else (masks, version, digests)
        return digests

    def get(self, key: Key) -> Tensor | None:
        return self._maps.get(key)

    def stored(self, keys: list[list[Key]], todo: Tensor) -> dict[tuple[int, int], Tensor]:
        """The stored maps of the classes ``todo`` ``(B, C)`` asks for, by ``(b, c)``, for the
        ``keys`` of :meth:`keys_for`; classes without one are left out."""
        found = {}
        for b, c in todo.nonzero().tolist():
            hit = self._maps.get(keys[b][c])
            if hit is not None:
                found[(b, c)] = hit
        return found

    def put(self, key: Key, value: Tensor) -> None:
        self._maps[key] = value


_ACTIVE: ContextVar[MapContext | None] = ContextVar("edgewise_map_context", default=None)


def active_context() -> MapContext | None:
    """The :class:`MapContext` of the innermost open :func:`shared_maps` block, if any."""
    return _ACTIVE.get()


@contextmanager
def shared_maps(context: MapContext | None = None) -> Iterator[MapContext]:
    """Reuse per-class distance transforms of the same masks until the block ends.

    Args:
        context: a context to (re)open, so that several blocks share their transforms
            (e.g. one per loss term of a step); a new one by default.

    A block opened inside another one without ``context`` shares the enclosing context.
    Maps are held in memory while their context is referenced; values are the same as
    without the block.

    Example:
        >>> from edgewise.maps import signed_distance, unsigned_distance
        >>> t = torch.zeros(1, 1, 8, 8, dtype=torch.long); t[..., 2:6, 2:6] = 1
        >>> with shared_maps() as ctx:
        ...     _ = signed_distance(t, num_classes=2)
        ...     _ = unsigned_distance(t, num_classes=2)  # reuses the outside distances
        >>> ctx.computed, ctx.reused
        (3, 2)
    """
    outer = _ACTIVE.get()
    if context is None and outer is not None:
        yield outer
        return
    ctx = context if context is not None else MapContext()
    token = _ACTIVE.set(ctx)
    try:
        yield ctx
    finally:
        _ACTIVE.reset(token)


def all_cached(kind: str, masks: Tensor, spacing: Tensor, backend: str, todo: Tensor) -> bool:
    """Whether the active context holds the ``kind`` transform of every class of ``masks``
    ``(B, C, *spatial)`` that ``todo`` ``(B, C)`` asks for (False without a context)."""
    ctx = _ACTIVE.get()
    if ctx is None:
        return False
    keys = ctx.keys_for(masks, spacing, backend, kind)
    return all(ctx.get(keys[b][c]) is not None for b, c in todo.nonzero().tolist())


def per_class_cached(
    kind: str,
    masks: Tensor,
    spacing: Tensor,
    backend: str,
    todo: Tensor,
    compute: Callable[[Tensor], Tensor],
) -> Tensor:
    """``compute(todo)`` ``(B, C, *spatial)``, reusing and storing per-class results in the
    active context (plain ``compute(todo)`` without one).

    ``masks`` ``(B, C, *spatial)`` bool are the class masks the results derive from, ``todo``
    ``(B, C)`` bool the classes to compute; ``compute(need)`` fills the entries where
    ``need`` is True (others may hold anything).
    """
    ctx = _ACTIVE.get()
    if ctx is None:
        return compute(todo)
    keys = ctx.keys_for(masks, spacing, backend, kind)
    hits = ctx.stored(keys, todo)
    need = todo.clone().cpu()
    for b, c in hits:
        need[b, c] = False
    if bool(need.any()):
        out = compute(need.to(todo.device))
    else:
        out = torch.zeros(masks.shape, dtype=torch.float32, device=masks.device)
    for b, c in need.nonzero().tolist():
        # a copy: callers may change the returned maps in place
        ctx.put(keys[b][c], out[b, c].clone())
    for (b, c), hit in hits.items():
        out[b, c] = hit
    ctx.reused += len(hits)
    return out


def note_transforms(n: int) -> None:
    """Count ``n`` transforms computed towards the active context's :attr:`~MapContext.computed`."""
    ctx = _ACTIVE.get()
    if ctx is not None:
        ctx.computed += n
