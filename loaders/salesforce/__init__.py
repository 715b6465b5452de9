"""Salesforce Lead, Contact and Account → `raw_salesforce.lead|contact|account` (dlt source).

Env vars (or `[sources.salesforce]` in .dlt/config.toml / secrets.toml):
- SOURCES__SALESFORCE__BASE_URL        login or My Domain URL (https://acme.my.salesforce.com)
- SOURCES__SALESFORCE__CLIENT_ID       connected app consumer key (secret)
- SOURCES__SALESFORCE__CLIENT_SECRET   connected app consumer secret (secret)
- SOURCES__SALESFORCE__API_VERSION     default v61.0
- SOURCES__SALESFORCE__OBJECTS         default Lead,Contact,Account
- SOURCES__SALESFORCE__CUSTOM_FIELDS   false (default): standard fields only; true: custom fields too
- SOURCES__SALESFORCE__START_DATE      first run reads records with SystemModstamp >= this date; default: all
- SOURCES__SALESFORCE__BACKOFF_BASE    seconds before the first retry (default 1.0; doubles, jittered)
- SOURCES__SALESFORCE__API_USAGE_SLOWDOWN  0.8: once the org has used this share of its daily API requests
                                       (Sforce-Limit-Info, rolling 24 hours), wait before each call, longer
                                       as usage nears API_USAGE_STOP
- SOURCES__SALESFORCE__API_USAGE_STOP  0.95: at this share stop cleanly (exit 3, resumes next run), leaving the
                                       rest to the org's other integrations (the Marketo sync among them)
- SOURCES__SALESFORCE__API_USAGE_MAX_WAIT  30: the longest wait between two calls, in seconds, just before the stop

How it loads: the fields come from `/sobjects/<Object>/describe` (the contract columns are always requested,
a missing one is an error that names it); one SOQL query per object over `queryAll` (so deleted records
arrive with `IsDeleted = true` and are kept), ordered by `SystemModstamp, Id` and paged by
`nextRecordsUrl` (pages of up to 2,000 records, often fewer); incremental on SystemModstamp (dlt state) with
`>=` so records stamped in the same second as the last run are not missed (dlt drops the ones it already
has); merged on Id. Ids and references land in their 18-character form.

Every value is typed by its describe type; a value that does not parse is loaded as null and its record id,
field and raw value land in `raw_salesforce._rejected`, so nothing is lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import dlt
from dlt.sources import DltResource

from loaders.common import LoaderError, Progress, StopWithProgress
from loaders.common.crm import LoadReport, note_repeats, parse_start_date, rejected_rows
from loaders.common.salesforce_ids import salesforce_id_18
from loaders.salesforce.client import ApiUsagePolicy, RequestLimitExceeded, SalesforceClient
from warehouse.faults import fault_point

# The raw landing contract (SPEC.md): always requested, whatever describe says is standard or custom.
CONTRACT_FIELDS: dict[str, list[str]] = {
    "Lead": [
        "Id",
        "Email",
        "Company",
        "Website",
        "Status",
        "LeadSource",
        "IsConverted",
        "ConvertedContactId",
        "ConvertedAccountId",
        "ConvertedDate",
        "CreatedDate",
        "LastModifiedDate",
        "SystemModstamp",
        "IsDeleted",
    ],
    "Contact": [
        "Id",
        "Email",
        "AccountId",
        "LeadSource",
        "CreatedDate",
        "LastModifiedDate",
        "SystemModstamp",
        "IsDeleted",
    ],
    "Account": ["Id", "Name", "Website", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted"],
}
REQUIRED_FIELDS = ["Id", "SystemModstamp", "IsDeleted"]

# describe type -> dlt data type; anything else is text
DLT_TYPES = {
    "datetime": "timestamp",
    "date": "date",
    "boolean": "bool",
    "int": "bigint",
    "long": "bigint",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "time": "time",
}
# compound and binary fields cannot be typed as one column (address, location) or are blobs (base64)
SKIPPED_TYPES = {"address", "location", "base64", "anyType", "complexvalue"}

REJECTED_TABLE = "_rejected"


def soql_datetime(value: datetime) -> str:
    """A SOQL dateTime literal, floored to the second (with `>=`, the floor re-reads at most one second)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def select_fields(sobject: str, described: list[dict], custom_fields: bool) -> dict[str, str]:
    """{field name: describe type} to request: the contract fields, standard fields, custom ones if asked."""
    by_name = {f["name"]: f for f in described}
    wanted = CONTRACT_FIELDS.get(sobject, []) + REQUIRED_FIELDS
    missing = [name for name in dict.fromkeys(wanted) if name not in by_name]
    if missing:
        raise LoaderError(
            f"Salesforce {sobject} describe has no field {', '.join(missing)}: the integration user cannot "
            "see it. Grant read access to it (field-level security) for the connected app's run-as user."
        )
    chosen = {name: by_name[name]["type"] for name in dict.fromkeys(wanted)}
    for f in described:
        if f["type"] in SKIPPED_TYPES or f["name"] in chosen:
            continue
        if custom_fields or not f.get("custom", False):
            chosen[f["name"]] = f["type"]
    return chosen


def type_value(sf_type: str, value: Any) -> Any:
    """A JSON value as the Python value of its describe type; raises ValueError when it does not parse."""
    if value is None:
        return None
    if sf_type == "datetime":
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    if sf_type == "date":
        return date.fromisoformat(str(value))
    if sf_type == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise ValueError(f"not a boolean: {value!r}")
    if sf_type in ("int", "long"):
        return int(value)
    if sf_type in ("double", "currency", "percent"):
        return float(value)
    if sf_type in ("id", "reference"):
        return salesforce_id_18(value)  # the API sends 18 characters; a 15-character id is the same record
    return value


def type_record(sobject: str, record: dict, types: dict[str, str]) -> tuple[dict, list[dict]]:
    """(typed record, rejections): a value that does not parse is nulled and reported, never dropped."""
    typed: dict[str, Any] = {}
    rejections: list[dict] = []
    for name, value in record.items():
        try:
            typed[name] = type_value(types.get(name, "string"), value)
        except (ValueError, TypeError) as exc:
            typed[name] = None
            rejections.append(
                {
                    "object": sobject,
                    "record_id": record.get("Id"),
                    "field": name,
                    "raw_value": str(value),
                    "reason": f"not a {types.get(name)}: {exc}",
                    "record": json.dumps(record, default=str),
                    "rejected_at": datetime.now(UTC),
                }
            )
    return typed, rejections


def _table_hints(table: str, types: dict[str, str]) -> Any:
    """Merge on Id with a column per requested field, typed from describe: a column that is null on every
    row so far (ConvertedDate, ...) still exists with its type."""
    columns = {name: {"data_type": DLT_TYPES.get(t, "text"), "nullable": name != "Id"} for name, t in types.items()}
    if "SystemModstamp" in columns:  # a record served twice in one load: the latest version stays
        columns["SystemModstamp"]["dedup_sort"] = "desc"
    return dlt.mark.make_hints(table_name=table, write_disposition="merge", primary_key="Id", columns=columns)


def object_records(
    client: SalesforceClient,
    sobject: str,
    types: dict[str, str],
    report: LoadReport,
    progress: Progress,
    # dlt binds an incremental to a resource through the parameter's default (its own idiom)
    modstamp: dlt.sources.incremental[datetime] = dlt.sources.incremental("SystemModstamp"),  # noqa: B008
) -> Iterator[Any]:
    """Pages of one object's records, oldest SystemModstamp first, from the last saved SystemModstamp on."""
    if report.halted:
        return
    soql = f"SELECT {', '.join(types)} FROM {sobject}"
    if modstamp.last_value is not None:
        soql += f" WHERE SystemModstamp >= {soql_datetime(modstamp.last_value)}"
    soql += " ORDER BY SystemModstamp, Id"
    table = sobject.lower()
    hints = _table_hints(table, types)
    seen: set[str] = set()
    try:
        for page in client.query_all(soql):
            rows, rejections = [], []
            for record in page:
                typed, bad = type_record(sobject, record, types)
                rows.append(typed)
                rejections.extend(bad)
            note_repeats(seen, [str(r.get("Id")) for r in rows], table, report, progress)
            report.pages[table] += 1
            report.rows[table] += len(rows)
            report.rejected += len(rejections)
            progress.tick(f"{sobject}: {report.rows[table]} records in {report.pages[table]} pages")
            if rejections:
                yield rejected_rows(rejections, REJECTED_TABLE)
            # table hints travel with the rows (a table variant) so that the `_rejected` rows of the same
            # resource do not inherit the object's columns and primary key
            yield dlt.mark.with_hints(rows, hints, create_table_variant=True)
            fault_point("salesforce.page")
    except RequestLimitExceeded as exc:
        # The pages already yielded are a prefix in SystemModstamp order: keeping them and their cursor is
        # exactly what the next run needs to resume
        report.stopped = (
            f"{exc.explain()} while reading {sobject}. What was read so far is loaded; the next run resumes "
            "from there once the rolling 24-hour limit frees up (see Setup > Company Information > API "
            "Requests, Last 24 Hours)."
        )
    except LoaderError as exc:
        # same prefix argument: an error after some pages costs only the pages not yet read
        report.failed = exc


@dlt.source(name="salesforce", section="salesforce")
def salesforce_source(
    base_url: str = dlt.config.value,
    client_id: str = dlt.secrets.value,
    client_secret: str = dlt.secrets.value,
    api_version: str = "v61.0",
    objects: str = "Lead,Contact,Account",
    custom_fields: bool = False,
    start_date: str | None = None,
    backoff_base: float = 1.0,
    api_usage_slowdown: float = 0.8,
    api_usage_stop: float = 0.95,
    api_usage_max_wait: float = 30.0,
    report: LoadReport | None = None,
    progress: Progress | None = None,
) -> list[DltResource]:
    """One merge resource per object (table = object name lower-cased), incremental on SystemModstamp."""
    report = report if report is not None else LoadReport()
    progress = progress or Progress("salesforce")
    if not 0 < float(api_usage_slowdown) <= float(api_usage_stop) <= 1:
        raise LoaderError(
            "SOURCES__SALESFORCE__API_USAGE_SLOWDOWN and __API_USAGE_STOP are shares of the org's daily API "
            f"allowance with 0 < slowdown <= stop <= 1; got {api_usage_slowdown} and {api_usage_stop}"
        )
    client = SalesforceClient(
        base_url,
        client_id,
        client_secret,
        api_version=api_version,
        backoff_base=backoff_base,
        usage_policy=ApiUsagePolicy(float(api_usage_slowdown), float(api_usage_stop), float(api_usage_max_wait)),
    )
    start = parse_start_date(start_date, "SOURCES__SALESFORCE__START_DATE")
    resources = []
    for sobject in [o.strip() for o in objects.split(",") if o.strip()]:
        try:
            types = select_fields(sobject, client.describe(sobject), custom_fields)
        except RequestLimitExceeded as exc:
            raise StopWithProgress(
                f"{exc.explain()}; nothing was read. Run again once the rolling 24-hour limit frees up."
            ) from exc
        # `include`: the `_rejected` rows carry no SystemModstamp and must pass the incremental filter
        modstamp = dlt.sources.incremental(
            "SystemModstamp", initial_value=start, primary_key="Id", on_cursor_value_missing="include"
        )
        resource = dlt.resource(object_records, name=sobject.lower())(
            client, sobject, types, report, progress, modstamp=modstamp
        )
        resources.append(resource)
    return resources
