"""What every writer of the warehouse shares: the one-writer lock and the fault points of the fault matrix.

Imports nothing heavy (no dlt, no dbt): dbt-duckdb loads `warehouse.dbt_plugin` on every connection.
"""
