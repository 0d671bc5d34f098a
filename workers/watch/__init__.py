"""The file-monitor: watches a directory and publishes `file.changed` for what changed in it.

Kernel notifications are only hints: every change is found by comparing the directory with a
baseline of what was last published (`baseline.py`), so a restart, a dropped notification or a
NATS outage ends in the same state as an uninterrupted run.
"""
