"""``edgewise train``, ``edgewise eval`` and ``edgewise demo`` (see :mod:`edgewise.cli`)."""
