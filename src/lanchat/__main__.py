"""``python -m lanchat``."""

from lanchat.cli import main

raise SystemExit(main())
