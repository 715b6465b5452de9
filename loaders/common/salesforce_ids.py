"""Salesforce record ids in their two forms, landed as one.

The API returns 18-character ids; reports, spreadsheets and some sync fields (Marketo's `sfdc*` among them)
carry the 15-character form, which is case-sensitive. The three extra characters encode, five characters at a
time, which of the first fifteen are upper case, so the 18-character form is unique even where case is lost.
Both name the same record: loaders land the 18-character form (dbt staging converts too, for data landed
earlier or fed from elsewhere: macros/salesforce_id_18.sql).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def salesforce_id_18(value: str | None) -> str | None:
    """The 18-character form of a 15-character id ('001A0000006Vm9r' -> '001A0000006Vm9rIAC'); any other value
    as it is."""
    if value is None or len(value) != 15:
        return value
    suffix = ""
    for start in (0, 5, 10):
        flags = sum(1 << i for i, char in enumerate(value[start : start + 5]) if char != char.lower())
        suffix += SUFFIX_ALPHABET[flags]
    return value + suffix


def salesforce_ids_18(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """`salesforce_id_18` over a string column; a column without 15-character values comes back untouched."""
    short = pc.fill_null(pc.equal(pc.utf8_length(column), 15), False)
    if not pc.any(short).as_py():
        return column
    return pa.array([salesforce_id_18(v) for v in column.to_pylist()], type=column.type)
