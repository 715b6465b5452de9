"""dlt loaders that land raw Marketo, CRM and web-tracking data in the warehouse.

Run `python -m loaders --help` for the sources and their options.
"""
