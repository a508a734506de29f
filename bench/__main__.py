"""``python -m bench``: the benchmark driver."""

from bench.run import main

raise SystemExit(main())
