"""A wire-compatible Salesforce REST API emulator (the part the Salesforce loader uses).

Endpoints:
- `POST /services/oauth2/token` — OAuth 2.0 client-credentials flow (form-encoded `grant_type`,
  `client_id`, `client_secret`) → `access_token`, `instance_url` (= base_url), `token_type`, `issued_at`,
  `signature`; bad credentials → 400 `{"error": "invalid_client", "error_description": ...}`.
- `GET /services/data/vNN.0/sobjects/{Object}/describe` → `{"name", "fields": [{name, type, custom,
  nillable, label}]}`; the fields are the frame's columns (custom ones end in `__c`).
- `GET /services/data/vNN.0/query?q=SOQL` (live records) and `.../queryAll?q=SOQL` (deleted ones too, with
  `IsDeleted`) — the SOQL subset the loader and simple-salesforce send:
  `SELECT f1, f2 FROM Object [WHERE SystemModstamp >|>= <datetime>] [ORDER BY SystemModstamp, Id]`
  → `{"totalSize", "done", "nextRecordsUrl"?, "records": [{"attributes": {"type", "url"}, ...}]}`.
- `GET /services/data/vNN.0/query/01g...-N` (or `queryAll/01g...-N`) — the next page (`nextRecordsUrl`, which
  says `query` even for a queryAll, as Salesforce's does; N is the offset of the page's first record).

As Salesforce documents, oddities included:
- A page holds at most the batch size (2,000, or `Sforce-Query-Options: batchSize=N`, 200..2,000) and often
  fewer ("there's no guarantee that the requested batch size is the actual batch size"): with
  `vary_page_sizes` (on by default) each page holds a seeded share of it.
- Every REST response carries `Sforce-Limit-Info: api-usage=N/M`: the org's API requests of the last 24 hours
  (`api_usage`, settable, as if other integrations had spent some) against its allowance (`daily_api_limit`).
  Past the allowance every call answers 403 `REQUEST_LIMIT_EXCEEDED`.

Errors use Salesforce's body `[{"message", "errorCode"}]`: unknown field 400 `INVALID_FIELD`, bad SOQL 400
`MALFORMED_QUERY`, bad or expired token 401 `INVALID_SESSION_ID`, daily limit 403 `REQUEST_LIMIT_EXCEEDED`,
unknown query locator 400 `INVALID_QUERY_LOCATOR`.

Fault switches: `expire_tokens()`, `fail_next(path_contains, status, error_code, times)`,
`exceed_request_limit(True|False)`, `cut_connection(path_contains)`.
Mutations: `upsert(object, rows)`, `delete(object, ids)` — both bump SystemModstamp.
`stats` counts `token`, `describe`, `query`, `query_more`, `faults`, `requests`, `errors`; `page_sizes` lists
the records of every query page served, in order; `call_times` the monotonic time of every REST call.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import secrets
import time
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from sandbox.crm import HttpEmulator, Request, Response

OBJECTS = ("Lead", "Contact", "Account")

_SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)"
    r"(?:\s+WHERE\s+SystemModstamp\s*(?P<op>>=|>)\s*(?P<since>\S+))?"
    r"(?:\s+ORDER\s+BY\s+SystemModstamp(?:\s+ASC)?\s*,\s*Id(?:\s+ASC)?)?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_SOQL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})$")


def sf_datetime(value: datetime) -> str:
    """Salesforce's JSON datetime: millisecond precision, `+0000` offset."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _field_type(name: str, series: pd.Series) -> str:
    if name == "Id":
        return "id"
    if name.endswith("Id") and name != "Id":
        return "reference"
    if name == "Email":
        return "email"
    if name == "Website":
        return "url"
    if name == "ConvertedDate":
        return "date"
    if pd.api.types.is_bool_dtype(series) or name.startswith("Is"):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(series) or name.endswith("Date") or name == "SystemModstamp":
        return "datetime"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "double"
    return "string"


def _python(value: Any) -> Any:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


class SalesforceEmulator(HttpEmulator):
    def __init__(
        self,
        lead: pd.DataFrame,
        contact: pd.DataFrame,
        account: pd.DataFrame,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
        api_version: str = "v61.0",
        page_size: int = 2000,
        vary_page_sizes: bool = True,
        daily_api_limit: int = 100_000,
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.api_version = api_version
        self.page_size = page_size
        self.vary_page_sizes = vary_page_sizes
        self.daily_api_limit = daily_api_limit
        self.api_usage = 0
        self.page_sizes: list[int] = []
        self.call_times: list[float] = []
        self._fields: dict[str, dict[str, dict]] = {}
        self._records: dict[str, dict[str, dict]] = {}
        for name, frame in zip(OBJECTS, (lead, contact, account), strict=True):
            self._fields[name] = {
                col: {
                    "name": col,
                    "type": _field_type(col, frame[col]),
                    "custom": col.endswith("__c"),
                    "nillable": col not in ("Id", "IsDeleted", "CreatedDate", "SystemModstamp"),
                    "label": col,
                }
                for col in frame.columns
            }
            self._records[name] = {}
            for row in frame.to_dict("records"):
                record = {k: _python(v) for k, v in row.items()}
                self._records[name][record["Id"]] = record
        self._tokens: set[str] = set()
        self._cursors: dict[str, tuple[list[dict], int, str]] = {}
        self._limit_exceeded = False
        # wrong but well-formed answers (the fault matrix): the next N follow-up pages of a query also carry
        # the query's first record, already served on its first page
        self.repeat_seen_record_pages = 0

    # ---------------------------------------------------------------------------------------- switches
    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def exceed_request_limit(self, exceeded: bool = True) -> None:
        """Every data call answers 403 REQUEST_LIMIT_EXCEEDED until switched off, whatever `api_usage` says."""
        self._limit_exceeded = exceeded

    def fail_next(
        self,
        path_contains: str,
        status: int = 500,
        error_code: str = "UNKNOWN_EXCEPTION",
        times: int = 1,
        message: str = "An unexpected error occurred. Please try again.",
    ) -> None:
        self.fail_with(path_contains, lambda: Response(status, [{"message": message, "errorCode": error_code}]), times)

    # --------------------------------------------------------------------------------------- mutations
    def upsert(self, sobject: str, rows: list[dict], when: datetime | None = None) -> None:
        """Insert or update records (by Id); LastModifiedDate and SystemModstamp move to `when` (now)."""
        when = when or datetime.now(UTC)
        with self._lock:
            for row in rows:
                current = self._records[sobject].get(row["Id"])
                record = dict(current) if current else {f: None for f in self._fields[sobject]}
                if not current:
                    record.update({"CreatedDate": when, "IsDeleted": False})
                record.update(row)
                record.update({"LastModifiedDate": when, "SystemModstamp": when})
                self._records[sobject][row["Id"]] = record

    def delete(self, sobject: str, ids: list[str], when: datetime | None = None) -> None:
        """To the recycle bin: IsDeleted true, SystemModstamp bumped (queryAll still returns them)."""
        when = when or datetime.now(UTC)
        with self._lock:
            for record_id in ids:
                self._records[sobject][record_id].update({"IsDeleted": True, "SystemModstamp": when})

    def records(self, sobject: str) -> list[dict]:
        """The current records of one object (deleted ones included), Python values."""
        with self._lock:
            return [dict(r) for r in self._records[sobject].values()]

    # ---------------------------------------------------------------------------------------- routing
    def route(self, request: Request) -> Response:
        response = self._route(request)
        if response.status >= 400:
            self.stats["errors"] += 1
        if request.path.startswith("/services/data/"):
            with self._lock:
                response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_usage}/{self.daily_api_limit}"
        return response

    def _route(self, request: Request) -> Response:
        if request.path == "/services/oauth2/token" and request.method == "POST":
            return self._token(request)
        prefix = f"/services/data/{self.api_version}/"
        if not request.path.startswith(prefix):
            return self._error(404, "NOT_FOUND", "The requested resource does not exist")
        auth = request.headers.get("authorization", "")
        with self._lock:
            valid = auth.startswith("Bearer ") and auth[7:] in self._tokens
            self.call_times.append(time.monotonic())
            over = self._limit_exceeded or self.api_usage >= self.daily_api_limit
            if valid and not over:
                self.api_usage += 1
        if not valid:
            return self._error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if over:
            return self._error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        rest = request.path[len(prefix) :]
        if match := re.fullmatch(r"sobjects/(\w+)/describe/?", rest):
            return self._describe(match.group(1))
        if rest.rstrip("/") in ("query", "queryAll"):
            batch = re.search(r"batchSize=(\d+)", request.headers.get("sforce-query-options", ""))
            size = min(max(int(batch.group(1)), 200), 2000) if batch else self.page_size
            return self._query(request.query.get("q", ""), rest.rstrip("/") == "queryAll", size)
        # the nextRecordsUrl of a queryAll says /query/; Salesforce accepts the locator under either resource
        if match := re.fullmatch(r"(?:query|queryAll)/(01g\w+)-(\d+)", rest):
            return self._query_more(match.group(1), int(match.group(2)))
        return self._error(404, "NOT_FOUND", "The requested resource does not exist")

    @staticmethod
    def _error(status: int, code: str, message: str) -> Response:
        return Response(status, [{"message": message, "errorCode": code}])

    def _token(self, request: Request) -> Response:
        self.stats["token"] += 1
        form = request.form()
        if form.get("grant_type") != "client_credentials":
            return Response(400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return Response(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
        token = "00D" + secrets.token_urlsafe(24)
        issued = str(int(time.time() * 1000))
        signature = base64.b64encode(hashlib.sha256((token + issued).encode()).digest()).decode()
        with self._lock:
            self._tokens.add(token)
        return Response(
            200,
            {
                "access_token": token,
                "instance_url": self.base_url,
                "id": f"{self.base_url}/id/00D000000000001/005000000000001",
                "token_type": "Bearer",
                "issued_at": issued,
                "signature": signature,
            },
        )

    def _describe(self, sobject: str) -> Response:
        self.stats["describe"] += 1
        if sobject not in self._fields:
            return self._error(404, "NOT_FOUND", f"The requested resource does not exist: {sobject}")
        return Response(
            200,
            {
                "name": sobject,
                "custom": False,
                "queryable": True,
                "fields": list(self._fields[sobject].values()),
            },
        )

    def _query(self, soql: str, include_deleted: bool, batch_size: int) -> Response:
        self.stats["query"] += 1
        match = _SOQL.match(soql)
        if not match:
            return self._error(400, "MALFORMED_QUERY", f"unexpected token in: {soql[:200]}")
        sobject = match.group("object")
        if sobject not in self._fields:
            return self._error(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
        fields = [f.strip() for f in match.group("fields").split(",")]
        for name in fields:
            if name not in self._fields[sobject]:
                return self._error(
                    400,
                    "INVALID_FIELD",
                    f"\n{', '.join(fields)[:100]}\n^\nERROR at Row:1:Column:8\n"
                    f"No such column '{name}' on entity '{sobject}'. If you are attempting to "
                    "use a custom field, be sure to append the '__c' after the custom field "
                    "name. Please reference your WSDL or the describe call for the appropriate "
                    "names.",
                )
        since = None
        if match.group("since"):
            literal = match.group("since")
            if not _SOQL_DATETIME.match(literal):
                return self._error(
                    400,
                    "MALFORMED_QUERY",
                    f"value of filter criterion for field 'SystemModstamp' must be of type dateTime: {literal}",
                )
            since = datetime.fromisoformat(literal.replace("Z", "+00:00"))
        with self._lock:
            rows = [r for r in self._records[sobject].values() if include_deleted or not r.get("IsDeleted")]
        if since is not None:
            op = match.group("op")
            rows = [r for r in rows if (r["SystemModstamp"] > since if op == ">" else r["SystemModstamp"] >= since)]
        rows.sort(key=lambda r: (r["SystemModstamp"], r["Id"]))
        snapshot = [self._render(sobject, row, fields) for row in rows]
        locator = "01g" + secrets.token_hex(6).upper()
        with self._lock:
            self._cursors[locator] = (snapshot, batch_size, soql)
        return self._page(locator, 0)

    def _query_more(self, locator: str, offset: int) -> Response:
        self.stats["query_more"] += 1
        if locator not in self._cursors:
            return self._error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(locator, offset)

    def _page(self, locator: str, offset: int) -> Response:
        snapshot, batch_size, soql = self._cursors[locator]
        size = batch_size
        if self.vary_page_sizes:  # seeded by the query and the page: the same query pages the same way
            size = random.Random(f"{soql}-{offset}").randint(max(1, batch_size // 5), batch_size)
        page = snapshot[offset : offset + size]
        with self._lock:
            if offset and self.repeat_seen_record_pages > 0 and snapshot:
                self.repeat_seen_record_pages -= 1
                page = [snapshot[0], *page]
        done = offset + size >= len(snapshot)
        body: dict[str, Any] = {"totalSize": len(snapshot), "done": done, "records": page}
        if not done:
            body["nextRecordsUrl"] = f"/services/data/{self.api_version}/query/{locator}-{offset + size}"
        with self._lock:
            self.page_sizes.append(len(page))
        return Response(200, body)

    def _render(self, sobject: str, row: dict, fields: list[str]) -> dict:
        out: dict[str, Any] = {
            "attributes": {
                "type": sobject,
                "url": f"/services/data/{self.api_version}/sobjects/{sobject}/{row['Id']}",
            }
        }
        for name in fields:
            value = row.get(name)
            if isinstance(value, datetime):
                value = sf_datetime(value)
            elif isinstance(value, date):
                value = value.isoformat()
            out[name] = value
        return out
