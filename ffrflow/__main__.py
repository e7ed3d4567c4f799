"""``python -m ffrflow`` = the ``ffrflow`` command."""

from .cli import main

raise SystemExit(main())
