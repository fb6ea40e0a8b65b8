"""The input conventions that maps, losses and metrics share (layer 0: imports no edgewise package).

Each convention is written once here so that a distance map, a loss and a metric given the
same arguments read them the same way and refuse them with the same message:

- :mod:`edgewise._core.spacing`: what a ``spacing`` argument may be (:data:`SpacingLike`),
  its one parser to a ``(B, ndim)`` table, and the voxel spacing of a MONAI ``MetaTensor``
  read from its affine without importing MONAI.
- :mod:`edgewise._core.tensors`: tensors or numpy arrays as input, bool masks, the refusal of
  zero-size axes, and the fill of a class absent from a sample (the ``empty=`` option).
- :mod:`edgewise._core.elementwise`: full-size elementwise steps spelled for torch's fast
  CPU paths, with the plain spelling's values.

What only one of the three packages does stays in that package.
"""
