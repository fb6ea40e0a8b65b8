"""``edgewise train``, ``eval``, ``score``, ``config`` and ``demo`` (see :mod:`edgewise.cli`)."""
