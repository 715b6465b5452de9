"""Plumbing shared by every loader: destination, HTTP retries, rate budgets, progress, clean stops."""

from loaders.common.errors import LoaderError, StopWithProgress
from loaders.common.pipeline import duckdb_path, lake_path, make_pipeline, repo_root, run_options
from loaders.common.progress import Progress
from loaders.common.ratelimit import RateBudget
from loaders.common.retry import backoff_delays

__all__ = [
    "LoaderError",
    "Progress",
    "RateBudget",
    "StopWithProgress",
    "backoff_delays",
    "duckdb_path",
    "lake_path",
    "make_pipeline",
    "repo_root",
    "run_options",
]
