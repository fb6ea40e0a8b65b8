"""The base of every edgewise loss module: its options, their checks and the call to its function.

Each loss is a plain function that does the math on tensors (``boundary_loss(input, target,
...)``: input checks, activation, one-hot target, channel selection, float32 without
autocast, reduction, all through :mod:`edgewise.losses._utils`) and a module that holds the
function's options. A module class names its function and nothing else needs writing::

    class BoundaryLoss(MapLossBase):
        function = staticmethod(boundary_loss)
        checks = {"convention": check_convention, "empty": check_empty}

Its constructor is the function's keyword-only parameters with the same defaults (``input``,
``target`` and the per-call ``dist_map`` left out), so a module and its function can never
disagree on a name or a default; ``defaults`` overrides the few that differ on purpose. What
the base does for every loss, once:

* checks the options every loss shares when it is built: ``reduction`` in
  ``("none", "mean", "sum")``, ``softmax`` and ``sigmoid`` not both set (losses that apply
  no activation, the SDF regression, have neither), then the loss's own ``checks`` (the
  function's own check where it has one, so the message is the one a call would give);
* keeps each option as an attribute of the same name, read at call time (an attribute
  changed after construction is used);
* ``forward(input, target, *, spacing=None)`` calls the function with the options;
  ``spacing`` given to ``forward`` wins over the constructor's, which wins over a MONAI
  ``MetaTensor``'s own (the function reads it when both are None);
* ``repr`` shows the options that differ from their defaults.

:class:`MapLossBase` adds ``dist_map=`` to ``forward``: the losses that can take their maps
precomputed (boundary, SDF, penalised CE, region-wise, Hausdorff DT, Skeleton Recall).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from torch import Tensor, nn

from edgewise._core.spacing import SpacingLike

from ._utils import Reduction, check_activation, check_reduction

__all__ = ["LossBase", "MapLossBase"]

_NOT_OPTIONS = ("input", "target")


class LossBase(nn.Module):
    """Base of every loss module: the options of :attr:`function`, checked, kept and passed on.

    Subclasses set :attr:`function` (a plain loss function ``fn(input, target, *, ...)``
    whose keyword-only parameters include ``spacing`` and ``reduction``) and, where needed:

    * :attr:`checks`: option name -> check run on the constructor's value (the function's
      own check where it has one, so the message is the same as at call time);
    * :attr:`defaults`: constructor defaults that differ from the function's;
    * :meth:`call_options`: the options as the function gets them on this call.

    Example:
        >>> import torch
        >>> from edgewise.losses import dice_loss
        >>> class MyDice(LossBase):
        ...     function = staticmethod(dice_loss)
        ...     defaults = {"include_background": False}
        >>> loss = MyDice(smooth_nr=0.0)
        >>> loss  # the options that differ from the defaults
        MyDice(smooth_nr=0.0)
        >>> x, t = torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 1, 8, 8))
        >>> bool(loss(x, t) == dice_loss(x, t, include_background=False, smooth_nr=0.0))
        True
    """

    #: The plain loss function this module calls (a ``staticmethod``).
    function: ClassVar[Callable[..., Tensor]]
    #: Option name -> check of its value, run when the module is built.
    checks: ClassVar[Mapping[str, Callable[[Any], object]]] = {}
    #: Constructor defaults that differ from the function's.
    defaults: ClassVar[Mapping[str, Any]] = {}
    #: Keywords of the function given to ``forward``, not to the constructor.
    call_only: ClassVar[tuple[str, ...]] = ()
    #: The constructor's signature (keyword-only, no ``self``), made from :attr:`function`'s.
    options_signature: ClassVar[inspect.Signature]

    include_background: bool
    classes: Sequence[int] | None
    softmax: bool | None
    sigmoid: bool
    to_onehot_y: bool | None
    reduction: Reduction
    spacing: SpacingLike

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "function" not in cls.__dict__:
            return
        params = [
            p.replace(default=cls.defaults.get(p.name, p.default))
            for p in inspect.signature(cls.function).parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.name not in (*_NOT_OPTIONS, *cls.call_only)
        ]
        names = {p.name for p in params}
        missing = sorted({"spacing", "reduction", *cls.checks, *cls.defaults} - names)
        if missing:
            raise TypeError(f"{cls.__name__}.function has no keyword-only parameter(s) {missing}")
        cls.options_signature = inspect.Signature(params)
        if "__init__" not in cls.__dict__:

            def __init__(self: LossBase, **options: Any) -> None:
                LossBase.__init__(self, **options)

            __init__.__qualname__ = f"{cls.__qualname__}.__init__"
            __init__.__doc__ = f"Options of :func:`{cls.function.__name__}`, checked and kept as attributes."
            self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
            __init__.__signature__ = cls.options_signature.replace(  # type: ignore[attr-defined]
                parameters=[self_param, *params], return_annotation=None)
            cls.__init__ = __init__  # type: ignore[method-assign]

    def __init__(self, **options: Any) -> None:
        super().__init__()
        bound = self.options_signature.bind(**options)
        bound.apply_defaults()
        values = bound.arguments
        check_reduction(values["reduction"])
        if "softmax" in values:
            check_activation(values["softmax"], values["sigmoid"])
        for name, check in self.checks.items():
            check(values[name])
        for name, value in values.items():
            setattr(self, name, value)

    def options(self) -> dict[str, Any]:
        """The options as they are now, ``spacing`` included, as keyword arguments of the function."""
        return {name: getattr(self, name) for name in self.options_signature.parameters}

    def call_options(self) -> dict[str, Any]:
        """The options this call passes to the function besides ``spacing`` (a hook: the
        region-wise loss checks its maps on the first call only)."""
        options = self.options()
        del options["spacing"]
        return options

    def compute(self, input: Tensor, target: Tensor, spacing: SpacingLike = None, **call: Any) -> Tensor:
        """:attr:`function` on ``input`` and ``target`` with the options; ``spacing`` (else the
        constructor's) and the per-call keywords ``call``."""
        if spacing is None:
            spacing = self.spacing
        return type(self).function(input, target, spacing=spacing, **call, **self.call_options())

    def forward(self, input: Tensor, target: Tensor, *, spacing: SpacingLike = None) -> Tensor:
        """The loss of ``input`` against ``target`` (:attr:`function`'s shapes and reduction)."""
        return self.compute(input, target, spacing)

    def extra_repr(self) -> str:
        default = self.options_signature.parameters
        return ", ".join(f"{name}={value!r}" for name, value in self.options().items()
                         if not _same(value, default[name].default))


class MapLossBase(LossBase):
    """:class:`LossBase` of a loss that can take its maps precomputed: ``forward`` also takes
    ``dist_map=`` (the function's own: the maps of the selected or of all classes)."""

    call_only = ("dist_map",)

    def forward(self, input: Tensor, target: Tensor, *, spacing: SpacingLike = None,
                dist_map: Tensor | None = None) -> Tensor:
        """The loss of ``input`` against ``target``, with the given maps when ``dist_map`` is not None."""
        return self.compute(input, target, spacing, dist_map=dist_map)


def _same(value: Any, default: Any) -> bool:
    """Whether an option still holds its default (a tensor never does)."""
    if value is default:
        return True
    if isinstance(value, Tensor) or isinstance(default, Tensor):
        return False
    try:
        return bool(type(value) is type(default) and value == default)
    except (TypeError, ValueError, RuntimeError):
        return False
