"""Discover-style dashboards over the marts (Streamlit + Altair): `make dashboard`, or `python -m dashboard`."""
