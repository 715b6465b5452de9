"""`make bench`: loaders and dbt at two scales, with ratios against DuckDB doing the same work directly."""
