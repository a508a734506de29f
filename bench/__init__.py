"""lanchat's benchmark harness: a driver that measures lanchat beside ngIRCd and InspIRCd.

See bench/README.md; run ``python -m bench --quick`` for a smoke run.
"""
