"""Scheduled retention jobs: files purge, audit retention, dedupe-mark expiry.

`executor.run_job` runs one job; `scheduler.run_scheduler` runs all three on their crons;
`controls` (holds, retention overrides) and `restore.restore_file` are what an operator
changes between runs. The storage is the repositories' (`repos.holds`, `repos.leases`,
`repos.retention`, `repos.cursors`, the cleanups); this package schedules and decides.
Nothing is re-exported here, so importing a module never pulls in APScheduler unasked.
"""
