"""The scheduled jobs: `python -m orchestration daily|weekly` (make daily, cron) and the Dagster definitions
that run the same jobs on a schedule (`dagster dev -m orchestration.definitions`, make orchestrate).

This package imports no Dagster itself: only orchestration.definitions does.
"""
