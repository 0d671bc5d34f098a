"""Scheduled retention jobs: files purge, audit retention, dedupe-mark expiry.

`runner.run_job` runs one job; `scheduler.run_scheduler` runs all three on their crons;
`holds`, `retention` and `files.restore_file` are what an operator changes between runs.
Nothing is re-exported here, so importing a module never pulls in APScheduler unasked.
"""
