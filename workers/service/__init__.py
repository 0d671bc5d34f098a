"""Assembling a worker, and the process lifecycles of `run`, `worker` and `scheduler`."""
