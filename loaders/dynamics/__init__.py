"""Dynamics 365 leads, contacts and accounts → `raw_dynamics.leads|contacts|accounts` (dlt source).

Env vars (or `[sources.dynamics]` in .dlt/config.toml / secrets.toml):
- SOURCES__DYNAMICS__BASE_URL          org URL (https://acme.crm4.dynamics.com)
- SOURCES__DYNAMICS__TOKEN_URL         https://login.microsoftonline.com/<tenant id>/oauth2/v2.0/token
- SOURCES__DYNAMICS__CLIENT_ID         app registration (an application user in the environment; secret)
- SOURCES__DYNAMICS__CLIENT_SECRET     its client secret (secret)
- SOURCES__DYNAMICS__SCOPE             default <BASE_URL>/.default
- SOURCES__DYNAMICS__PAGE_SIZE         rows per page (Prefer: odata.maxpagesize), default 5000 (the maximum)
- SOURCES__DYNAMICS__ENTITIES          default leads,contacts,accounts
- SOURCES__DYNAMICS__START_DATE        first run reads rows with modifiedon >= this date; default: all
- SOURCES__DYNAMICS__DETECT_DELETES    default true: the id reconciliation pass below
- SOURCES__DYNAMICS__MAX_RETRY_AFTER   longest 429 Retry-After to wait in seconds (default 300); longer stops
- SOURCES__DYNAMICS__BACKOFF_BASE      seconds before the first retry on 5xx (default 1.0)

How it loads: `$select` of the contract columns, `$filter=modifiedon ge <last modifiedon>` from dlt state,
`$orderby=modifiedon asc, <id> asc`, pages followed by `@odata.nextLink`; merged on the primary id.

Deletes: Dataverse deletes are hard deletes, so a deleted record simply stops appearing. We detect them by
reconciling ids rather than with change tracking, because change tracking must be enabled per table by an
administrator and its delta tokens expire after 90 days of not being used (then a full reload is the only
way back): every run lists the live ids (`$select=<id>` only, cheap), and every previously loaded row whose
id is gone is written again, unchanged, with `is_deleted = true`. Rows are never dropped. A record created
and deleted between two runs is never seen, as with any polling loader.

A value that cannot be typed is loaded as null and lands in `raw_dynamics._rejected` with its id and field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.sources import DltResource

from loaders.common import LoaderError, Progress
from loaders.common.crm import LoadReport, note_repeats, parse_start_date, rejected_rows
from loaders.dynamics.client import DynamicsClient, Throttled
from warehouse.faults import fault_point

PRIMARY_KEYS = {"leads": "leadid", "contacts": "contactid", "accounts": "accountid"}
# The raw landing contract (SPEC.md) and what the dbt staging models read; name -> dlt data type
COLUMNS: dict[str, dict[str, str]] = {
    "leads": {
        "leadid": "text",
        "emailaddress1": "text",
        "companyname": "text",
        "websiteurl": "text",
        "statecode": "bigint",
        "statuscode": "bigint",
        "leadsourcecode": "bigint",
        "_parentaccountid_value": "text",
        "_parentcontactid_value": "text",
        "createdon": "timestamp",
        "modifiedon": "timestamp",
    },
    "contacts": {
        "contactid": "text",
        "emailaddress1": "text",
        "_parentcustomerid_value": "text",
        "leadsourcecode": "bigint",
        "statecode": "bigint",
        "createdon": "timestamp",
        "modifiedon": "timestamp",
    },
    "accounts": {
        "accountid": "text",
        "name": "text",
        "websiteurl": "text",
        "statecode": "bigint",
        "createdon": "timestamp",
        "modifiedon": "timestamp",
    },
}
REJECTED_TABLE = "_rejected"
ID_PAGE_SIZE = 5000


def odata_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def type_value(data_type: str, value: Any) -> Any:
    """A JSON value as its column's Python type; raises ValueError when it does not parse."""
    if value is None:
        return None
    if data_type == "timestamp":
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    if data_type == "bigint":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"not an integer: {value!r}")
        return int(value)
    return value


def type_row(entity: str, row: dict) -> tuple[dict, list[dict]]:
    """(typed row flagged live, rejections): a value that does not parse is nulled and reported."""
    types = COLUMNS[entity]
    key = PRIMARY_KEYS[entity]
    typed: dict[str, Any] = {}
    rejections: list[dict] = []
    for name, value in row.items():
        try:
            typed[name] = type_value(types.get(name, "text"), value)
        except (ValueError, TypeError) as exc:
            typed[name] = None
            rejections.append(
                {
                    "entity": entity,
                    "record_id": row.get(key),
                    "field": name,
                    "raw_value": str(value),
                    "reason": str(exc),
                    "record": json.dumps(row, default=str),
                    "rejected_at": datetime.now(UTC),
                }
            )
    typed["is_deleted"] = False
    return typed, rejections


def _table_hints(entity: str) -> Any:
    columns: dict[str, Any] = {name: {"data_type": t, "nullable": True} for name, t in COLUMNS[entity].items()}
    columns[PRIMARY_KEYS[entity]]["nullable"] = False
    columns["modifiedon"]["dedup_sort"] = "desc"  # a record served twice in one load: the latest version stays
    columns["is_deleted"] = {"data_type": "bool", "nullable": True}
    return dlt.mark.make_hints(
        table_name=entity, write_disposition="merge", primary_key=PRIMARY_KEYS[entity], columns=columns
    )


def changed_rows(
    client: DynamicsClient,
    entity: str,
    page_size: int,
    report: LoadReport,
    progress: Progress,
    # dlt binds an incremental to a resource through the parameter's default (its own idiom)
    modifiedon: dlt.sources.incremental[datetime] = dlt.sources.incremental("modifiedon"),  # noqa: B008
) -> Iterator[Any]:
    """Rows modified since the last run, oldest first (a clean stop keeps a resumable prefix)."""
    if report.halted:
        return
    key = PRIMARY_KEYS[entity]
    params = {"$select": ",".join(COLUMNS[entity]), "$orderby": f"modifiedon asc,{key} asc"}
    if modifiedon.last_value is not None:
        params["$filter"] = f"modifiedon ge {odata_datetime(modifiedon.last_value)}"
    hints = _table_hints(entity)
    seen: set[str] = set()
    try:
        for page in client.pages(entity, params, page_size):
            rows, rejections = [], []
            for row in page:
                typed, bad = type_row(entity, row)
                rows.append(typed)
                rejections.extend(bad)
            note_repeats(seen, [str(r.get(key)) for r in rows], entity, report, progress)
            report.rows[entity] += len(rows)
            report.rejected += len(rejections)
            progress.tick(f"{entity}: {report.rows[entity]} rows read")
            if rejections:
                yield rejected_rows(rejections, REJECTED_TABLE)
            # table hints travel with the rows (a table variant) so that `_rejected` does not inherit them
            yield dlt.mark.with_hints(rows, hints, create_table_variant=True)
            fault_point("dynamics.page")
    except Throttled as exc:
        report.stopped = _throttled_message(entity, exc)
    except LoaderError as exc:
        # the pages already yielded are a prefix in modifiedon order: keep them, fail after the load
        report.failed = exc


def deleted_rows(client: DynamicsClient, entity: str, report: LoadReport, progress: Progress) -> Iterator[Any]:
    """Loaded rows whose id Dataverse no longer lists, written again with is_deleted = true."""
    if report.halted:
        return
    key = PRIMARY_KEYS[entity]
    live: set[str] = set()
    try:
        loaded = _loaded_live_ids(entity, key)
        if not loaded:
            return
        for page in client.pages(entity, {"$select": key}, ID_PAGE_SIZE):
            live.update(str(row[key]).lower() for row in page)
    except Throttled as exc:
        report.stopped = _throttled_message(entity, exc)
        return
    except LoaderError as exc:
        report.failed = exc
        return
    gone = [i for i in loaded if i.lower() not in live]
    if not gone:
        return
    rows = _loaded_rows(entity, key, gone)
    for row in rows:
        row["is_deleted"] = True
    report.deleted[entity] += len(rows)
    progress.say(f"{entity}: {len(rows)} deleted in Dynamics since the last run (kept, flagged is_deleted)")
    yield dlt.mark.with_hints(rows, _table_hints(entity), create_table_variant=True)


def _loaded_live_ids(entity: str, key: str) -> list[str]:
    """Ids already in the destination and not flagged deleted; none before the first load."""
    pipeline = dlt.current.pipeline()
    try:
        client = pipeline.sql_client()
    except Exception as exc:  # a destination that cannot be queried back (filesystem, ...)
        raise LoaderError(
            "detecting Dynamics deletes reads the loaded ids back, which "
            f"{pipeline.destination.destination_name} cannot do; "
            "set SOURCES__DYNAMICS__DETECT_DELETES=false for this destination"
        ) from exc
    try:
        with client as sql:
            table = sql.make_qualified_table_name(entity)
            rows = sql.execute_sql(f"select {key} from {table} where is_deleted is not true")
    except DatabaseUndefinedRelation:
        return []
    return [r[0] for r in rows or []]


def _loaded_rows(entity: str, key: str, ids: list[str]) -> list[dict]:
    pipeline = dlt.current.pipeline()
    out: list[dict] = []
    with pipeline.sql_client() as sql:
        table = sql.make_qualified_table_name(entity)
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            marks = ", ".join(["%s"] * len(chunk))
            with sql.execute_query(f"select * from {table} where {key} in ({marks})", *chunk) as cursor:
                names = [d[0] for d in cursor.description]
                out += [
                    {n: v for n, v in zip(names, row, strict=True) if not n.startswith("_dlt_")}
                    for row in cursor.fetchall()
                ]
    return out


def _throttled_message(entity: str, exc: Throttled) -> str:
    return (
        f"Dataverse throttled the load of {entity} and asked to wait {exc.retry_after:.0f} s, longer than "
        "SOURCES__DYNAMICS__MAX_RETRY_AFTER. What was read so far is loaded; run again later and the load "
        "resumes from there (service protection limits: 6,000 requests and 20 minutes of execution time per "
        "5 minutes per user)."
    )


@dlt.source(name="dynamics", section="dynamics")
def dynamics_source(
    base_url: str = dlt.config.value,
    token_url: str = dlt.config.value,
    client_id: str = dlt.secrets.value,
    client_secret: str = dlt.secrets.value,
    scope: str | None = None,
    page_size: int = 5000,
    entities: str = "leads,contacts,accounts",
    start_date: str | None = None,
    detect_deletes: bool = True,
    max_retry_after: float = 300.0,
    backoff_base: float = 1.0,
    report: LoadReport | None = None,
    progress: Progress | None = None,
) -> list[DltResource]:
    """Per entity set: a merge resource incremental on modifiedon, and the delete reconciliation pass."""
    report = report if report is not None else LoadReport()
    progress = progress or Progress("dynamics")
    client = DynamicsClient(
        base_url,
        token_url,
        client_id,
        client_secret,
        scope=scope,
        backoff_base=backoff_base,
        max_retry_after=max_retry_after,
    )
    start = parse_start_date(start_date, "SOURCES__DYNAMICS__START_DATE")
    resources: list[DltResource] = []
    for entity in [e.strip() for e in entities.split(",") if e.strip()]:
        if entity not in COLUMNS:
            raise LoaderError(f"SOURCES__DYNAMICS__ENTITIES names {entity!r}; known: {', '.join(COLUMNS)}")
        key = PRIMARY_KEYS[entity]
        # `include`: the `_rejected` rows carry no modifiedon and must pass the incremental filter
        cursor = dlt.sources.incremental(
            "modifiedon", initial_value=start, primary_key=key, on_cursor_value_missing="include"
        )
        resources.append(
            dlt.resource(changed_rows, name=entity)(client, entity, page_size, report, progress, modifiedon=cursor)
        )
        if detect_deletes:
            resources.append(dlt.resource(deleted_rows, name=f"{entity}_deletes")(client, entity, report, progress))
    return resources
