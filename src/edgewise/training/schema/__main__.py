"""``python -m edgewise.training.schema``: print the configuration reference, or refresh it
in a Markdown file (``--update-docs docs/training.md``, ``--check``)."""

from __future__ import annotations

import sys

from edgewise.training.schema.reference import main

if __name__ == "__main__":
    sys.exit(main())
