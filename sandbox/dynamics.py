"""A wire-compatible Dynamics 365 (Dataverse Web API) emulator, with its Microsoft Entra ID token endpoint.

Endpoints:
- `POST /{tenant}/oauth2/v2.0/token` — client-credentials flow (form-encoded `grant_type`, `client_id`,
  `client_secret`, `scope` = `<org url>/.default`) → `{"token_type": "Bearer", "expires_in": 3599,
  "ext_expires_in": 3599, "access_token"}`; bad credentials → 401 `{"error": "invalid_client",
  "error_description": "AADSTS7000215: ..."}`, a scope not ending in `/.default` → 400 `invalid_scope`.
- `GET /api/data/v9.2/{leads|contacts|accounts}` with `$select`, `$filter=modifiedon ge|gt <datetime>`
  (or none), `$orderby=col [asc|desc], ...`, `$top=N`, `Prefer: odata.maxpagesize=N` → `{"@odata.context",
  "value": [{"@odata.etag", ...}], "@odata.nextLink"?}`; the nextLink is absolute and carries an opaque
  `$skiptoken`; `Preference-Applied` echoes the page size. Lookups appear as `_<name>_value`. Pages hold at
  most 5,000 rows (a larger maxpagesize is ignored, as Dataverse does). `$top` caps the rows of the whole
  query, OData's meaning, which Microsoft's Dataverse client relies on: with a smaller maxpagesize the rows
  come in pages of that size, and no nextLink leads past the `$top`-th row.
- `GET /api/data/v9.2/EntityDefinitions?$select=...&$filter=LogicalName eq 'lead'` → the table's
  `LogicalName`, `EntitySetName`, `PrimaryIdAttribute` (how Microsoft's Dataverse client finds entity sets).

Errors use Dataverse's body `{"error": {"code", "message"}}`: unknown column 400 (0x80060888), bad
`$filter` 400 (0x80060888), throttling 429 with `Retry-After` (seconds; 0x80072322). A missing or expired
token gets 401 with an empty body and `WWW-Authenticate: Bearer error="invalid_token"`, as Dataverse does.

Deletes are hard deletes, as in Dataverse: the record disappears from every query (the loader finds them
by reconciling ids). Fault switches: `expire_tokens()`, `throttle(times, retry_after)`,
`fail_next(path_contains, status, code, times)`, `cut_connection(path_contains)`.
Mutations: `upsert(entity_set, rows)` (bumps modifiedon), `delete(entity_set, ids)`.
`stats` counts `token`, `query`, `next_page`, `throttled`, `faults`, `requests`, `errors`.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from sandbox.crm import HttpEmulator, Request, Response

API = "/api/data/v9.2"
PRIMARY_KEYS = {"leads": "leadid", "contacts": "contactid", "accounts": "accountid"}
ENTITY_TYPES = {"leads": "lead", "contacts": "contact", "accounts": "account"}
INVALID_TOKEN = 'Bearer error="invalid_token", error_description="The access token is expired"'
THROTTLED = "Number of requests exceeded the limit of 6000 over time window of 300 seconds."
_FILTER = re.compile(r"^\s*modifiedon\s+(ge|gt)\s+(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)\s*$")


def dv_datetime(value: datetime) -> str:
    """Dataverse's JSON datetime: UTC, second precision, `Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _python(value: Any) -> Any:
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item"):
        return value.item()
    return value


class DynamicsEmulator(HttpEmulator):
    def __init__(
        self,
        leads: pd.DataFrame,
        contacts: pd.DataFrame,
        accounts: pd.DataFrame,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
        tenant: str = "00000000-0000-0000-0000-000000000001",
        page_size: int = 5000,
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.tenant = tenant
        self.page_size = page_size
        self._columns: dict[str, list[str]] = {}
        self._records: dict[str, dict[str, dict]] = {}
        for entity, frame in zip(PRIMARY_KEYS, (leads, contacts, accounts), strict=True):
            self._columns[entity] = list(frame.columns)
            key = PRIMARY_KEYS[entity]
            self._records[entity] = {
                row[key]: {k: _python(v) for k, v in row.items()} | {"versionnumber": 1}
                for row in frame.to_dict("records")
            }
        self._tokens: set[str] = set()
        self._cursors: dict[str, tuple[list[dict], str]] = {}
        self._throttle = 0
        self._retry_after = 1
        # wrong but well-formed answers (the fault matrix): the next N follow-up pages also carry the query's
        # first row, already served on its first page; the next N nextLinks past the second page point back
        # to the page before (a paging loop)
        self.repeat_seen_record_pages = 0
        self.loop_next_link_times = 0

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/{self.tenant}/oauth2/v2.0/token"

    # ---------------------------------------------------------------------------------------- switches
    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def throttle(self, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` data calls get 429 with `Retry-After: retry_after` (service protection limits)."""
        with self._lock:
            self._throttle, self._retry_after = times, retry_after

    def fail_next(
        self,
        path_contains: str,
        status: int = 500,
        code: str = "0x80040216",
        times: int = 1,
        message: str = "An unexpected error occurred.",
    ) -> None:
        self.fail_with(path_contains, lambda: Response(status, {"error": {"code": code, "message": message}}), times)

    # --------------------------------------------------------------------------------------- mutations
    def upsert(self, entity: str, rows: list[dict], when: datetime | None = None) -> None:
        """Create or update records by primary key; `modifiedon` moves to `when` (now)."""
        when = when or datetime.now(UTC).replace(microsecond=0)
        key = PRIMARY_KEYS[entity]
        with self._lock:
            for row in rows:
                current = self._records[entity].get(row[key])
                record = dict(current) if current else {c: None for c in self._columns[entity]}
                if not current:
                    record.update({"createdon": when, "versionnumber": 0})
                record.update(row)
                record.update({"modifiedon": when, "versionnumber": record["versionnumber"] + 1})
                self._records[entity][row[key]] = record

    def delete(self, entity: str, ids: list[str]) -> None:
        with self._lock:
            for record_id in ids:
                del self._records[entity][record_id]

    def records(self, entity: str) -> list[dict]:
        with self._lock:
            return [{k: v for k, v in r.items() if k != "versionnumber"} for r in self._records[entity].values()]

    # ---------------------------------------------------------------------------------------- routing
    def route(self, request: Request) -> Response:
        response = self._route(request)
        if response.status >= 400:
            self.stats["errors"] += 1
        return response

    def _route(self, request: Request) -> Response:
        if request.path == f"/{self.tenant}/oauth2/v2.0/token" and request.method == "POST":
            return self._token(request)
        if not request.path.startswith(API + "/"):
            return self._error(404, "0x80060888", f"Resource not found for the segment '{request.path}'.")
        auth = request.headers.get("authorization", "")
        with self._lock:
            valid = auth.startswith("Bearer ") and auth[7:] in self._tokens
            throttled = valid and self._throttle > 0
            if throttled:
                self._throttle -= 1
                self.stats["throttled"] += 1
        if not valid:
            return Response(
                401,
                b"",
                {"WWW-Authenticate": INVALID_TOKEN},
            )
        if throttled:
            return Response(
                429,
                {
                    "error": {
                        "code": "0x80072322",
                        "message": THROTTLED,
                    }
                },
                {"Retry-After": str(self._retry_after)},
            )
        entity = request.path[len(API) + 1 :].strip("/")
        if entity == "EntityDefinitions":
            return self._entity_definitions(request.query.get("$filter", ""))
        if entity not in PRIMARY_KEYS:
            return self._error(404, "0x80060888", f"Resource not found for the segment '{entity}'.")
        if "$skiptoken" in request.query:
            return self._next_page(entity, request.query)
        return self._query(entity, request)

    @staticmethod
    def _error(status: int, code: str, message: str) -> Response:
        return Response(status, {"error": {"code": code, "message": message}})

    def _token(self, request: Request) -> Response:
        self.stats["token"] += 1
        form = request.form()
        if form.get("grant_type") != "client_credentials":
            return Response(400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return Response(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret "
                    "being sent in the request is the client secret value, not the client secret ID.",
                    "error_codes": [7000215],
                },
            )
        if not form.get("scope", "").endswith("/.default"):
            return Response(
                400,
                {
                    "error": "invalid_scope",
                    "error_description": "AADSTS1002012: The provided value for scope is not valid. "
                    "Client credential flows must have a scope value with /.default suffixed to the "
                    "resource identifier.",
                },
            )
        token = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens.add(token)
        return Response(
            200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
        )

    def _query(self, entity: str, request: Request) -> Response:
        self.stats["query"] += 1
        columns = self._columns[entity]
        key = PRIMARY_KEYS[entity]
        select = [c.strip() for c in request.query.get("$select", "").split(",") if c.strip()] or columns
        for name in select:
            if name not in columns:
                return self._error(
                    400,
                    "0x80060888",
                    f"Could not find a property named '{name}' on type "
                    f"'Microsoft.Dynamics.CRM.{ENTITY_TYPES[entity]}'.",
                )
        with self._lock:
            rows = list(self._records[entity].values())
        if flt := request.query.get("$filter"):
            match = _FILTER.match(flt)
            if not match:
                return self._error(400, "0x80060888", f"Syntax error or unsupported clause in $filter: '{flt}'.")
            since = datetime.fromisoformat(match.group(2).replace("Z", "+00:00"))
            op = match.group(1)
            rows = [
                r
                for r in rows
                if r["modifiedon"] is not None and (r["modifiedon"] > since if op == "gt" else r["modifiedon"] >= since)
            ]
        order = request.query.get("$orderby", key)
        for term in reversed([t.strip() for t in order.split(",") if t.strip()]):
            name, _, direction = term.partition(" ")
            if name not in columns:
                return self._error(400, "0x80060888", f"Could not find a property named '{name}'.")
            rows.sort(key=lambda r, n=name: (r[n] is not None, r[n]), reverse=direction.strip().lower() == "desc")
        page_size = self.page_size
        if match := re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("prefer", "")):
            page_size = min(int(match.group(1)), 5000)
        if "$top" in request.query:
            top = request.query["$top"]
            if not top.isdigit() or int(top) < 1:
                return self._error(400, "0x80060888", f"Invalid value for $top: '{top}'.")
            rows = rows[: int(top)]
        snapshot = [self._render(r, select, key) for r in rows]
        token = secrets.token_hex(8)
        context = f"{self.base_url}{API}/$metadata#{entity}({','.join(select)})"
        with self._lock:
            self._cursors[token] = (snapshot, context)
        return self._page(entity, token, 0, page_size, request.query)

    def _entity_definitions(self, flt: str) -> Response:
        match = re.fullmatch(r"\s*LogicalName\s+eq\s+'(\w+)'\s*", flt)
        if not match:
            return self._error(400, "0x80060888", f"Syntax error or unsupported clause in $filter: '{flt}'.")
        logical = match.group(1)
        entity_set = next((e for e, name in ENTITY_TYPES.items() if name == logical), None)
        value = []
        if entity_set is not None:
            value = [
                {"LogicalName": logical, "EntitySetName": entity_set, "PrimaryIdAttribute": PRIMARY_KEYS[entity_set]}
            ]
        return Response(200, {"@odata.context": f"{self.base_url}{API}/$metadata#EntityDefinitions", "value": value})

    def _next_page(self, entity: str, query: dict[str, str]) -> Response:
        self.stats["next_page"] += 1
        token, _, rest = query["$skiptoken"].partition("-")
        offset, _, size = rest.partition("-")
        if token not in self._cursors or not offset.isdigit() or not size.isdigit():
            return self._error(400, "0x80040203", "Invalid paging cookie or skip token.")
        return self._page(entity, token, int(offset), int(size), query)

    def _page(self, entity: str, token: str, offset: int, size: int, query: dict[str, str]) -> Response:
        snapshot, context = self._cursors[token]
        value = snapshot[offset : offset + size]
        next_offset = offset + size
        with self._lock:
            if offset and self.repeat_seen_record_pages > 0 and snapshot:
                self.repeat_seen_record_pages -= 1
                value = [snapshot[0], *value]
            if offset and next_offset < len(snapshot) and self.loop_next_link_times > 0:
                self.loop_next_link_times -= 1
                next_offset = offset - size
        body: dict[str, Any] = {"@odata.context": context, "value": value}
        if offset + size < len(snapshot):
            params = {k: v for k, v in query.items() if k != "$skiptoken"}
            params["$skiptoken"] = f"{token}-{next_offset}-{size}"
            body["@odata.nextLink"] = f"{self.base_url}{API}/{entity}?{urlencode(params)}"
        return Response(200, body, {"Preference-Applied": f"odata.maxpagesize={size}", "OData-Version": "4.0"})

    @staticmethod
    def _render(row: dict, select: list[str], key: str) -> dict:
        out: dict[str, Any] = {"@odata.etag": f'W/"{row["versionnumber"]}"'}
        for name in select:
            value = row.get(name)
            out[name] = dv_datetime(value) if isinstance(value, datetime) else value
        if key not in out:
            out[key] = row[key]  # Dataverse always returns the primary key
        return out
