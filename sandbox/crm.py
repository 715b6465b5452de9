"""CRM sandbox: records consistent with the Marketo persons, and the HTTP plumbing both CRM emulators share.

`generate_crm(marketo_leads)` builds Salesforce and Dynamics records that agree with what the Marketo↔CRM
sync wrote on the Marketo persons (`sfdcLeadId`, `sfdcContactId`, `sfdcAccountId`, `msft*`), so that the
duplicate rule (B5), lead-to-account (B8) and deletes (B12) can be tested on data whose right answer is known.

Returned frames (one row per record, API field names, UTC timestamps):

- `sf_lead`: Id, Email, Company, Website, Status, LeadSource, IsConverted, ConvertedContactId,
  ConvertedAccountId, ConvertedDate (date), CreatedDate, LastModifiedDate, SystemModstamp, IsDeleted
- `sf_contact`: Id, Email, AccountId, LeadSource, CreatedDate, LastModifiedDate, SystemModstamp, IsDeleted
- `sf_account`: Id, Name, Website, CreatedDate, LastModifiedDate, SystemModstamp, IsDeleted
- `dyn_leads`: leadid, emailaddress1, companyname, websiteurl, statecode (0 open, 1 qualified,
  2 disqualified), statuscode, leadsourcecode, _parentaccountid_value, _parentcontactid_value, createdon,
  modifiedon
- `dyn_contacts`: contactid, emailaddress1, _parentcustomerid_value, leadsourcecode, statecode, createdon,
  modifiedon
- `dyn_accounts`: accountid, name, websiteurl, statecode, createdon, modifiedon
- `dangling`: DataFrame(marketo_id, crm, field, crm_id) — synced lead/contact ids deliberately left out of
  the CRM frames (a data-quality case: not a duplicate); one row per id the person carries.
- `crm_only`: DataFrame(crm, object, id) — CRM persons with no Marketo person (CRM-only leads).
- `converted`: DataFrame(crm, lead_id, contact_id, account_id) — leads converted in the CRM after sync: the
  Marketo person still names the lead, the CRM lead points at a new contact.

Rules, so scenario tests can predict the marts:
- Every synced Marketo person's CRM record exists with the same email (trimmed, original case kept),
  company and website, except the ids listed in `dangling` (one in 50 synced persons, at least one when any
  are synced).
- Accounts: one per `sfdcAccountId` / `msftAccountId` named by a Marketo person (Name = the first such
  person's company, Website = its website), plus, in Salesforce, one account per CRM-only lead's company
  (matchable by lead-to-account: same name, website = the lead's email domain) and per converted lead.
- CRM-only leads (`crm_only`, default 5 per CRM in use): emails `crm.only<k>@crmonlyworks<k>.com`
  (Salesforce) / `dyn.only<k>@dynonly<k>.com` (Dynamics); created in 2024.
- Converted leads (`converted`, default 3, Salesforce): the first open synced leads; the new contact has the
  lead's email and was created a day after the lead's last change; the lead gets IsConverted, Status
  "Closed - Converted", ConvertedContactId/AccountId/Date and a bumped LastModifiedDate.
- Salesforce ids minted here are 18-character ids like `00Q9Z0000000001UAA` (prefix + `9Z0` + serial, then
  Salesforce's case checksum); Dynamics ids are GUIDs drawn from the seed.
- Created/modified dates: the Marketo `createdAt` / `updatedAt` (the sync created the CRM record);
  SystemModstamp = LastModifiedDate.
- Nothing is deleted at generation time; use the emulators' `delete()` for delete scenarios.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd

from loaders.common.salesforce_ids import salesforce_id_18

LEAD_STATUSES = ["Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"]
LEAD_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]


# ---------------------------------------------------------------------------------------------- generator
def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame.columns else pd.Series([None] * len(frame), index=frame.index)


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and value is not pd.NA


def _utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _text(value: Any) -> str | None:
    return str(value).strip() if _present(value) else None


def generate_crm(marketo_leads: pd.DataFrame, seed: int = 0, crm_only: int = 5, converted: int = 3) -> dict:
    """CRM records for the Marketo persons (see the module docstring for every frame and rule).

    crm_only: CRM-only leads per CRM; converted: synced Salesforce leads converted in the CRM after sync.
    Deterministic for a given frame and seed.
    """
    rng = np.random.default_rng(seed)
    sf = _SalesforceBuilder(rng)
    dyn = _DynamicsBuilder(rng)
    dangling: list[dict] = []
    synced_seen = 0

    for row in marketo_leads.to_dict("records"):
        for crm, builder, prefix in (("salesforce", sf, "sfdc"), ("dynamics", dyn, "msft")):
            kind = _text(row.get(f"{prefix}Type"))
            ids = {k: _text(row.get(f"{prefix}{k}Id")) for k in ("Lead", "Contact", "Account")}
            if not any(ids.values()):
                continue
            synced_seen += 1
            # one in 50 synced persons keeps a dangling id: the sync wrote it, the CRM record is gone
            if synced_seen % 50 == 1 and (ids["Lead"] or ids["Contact"]):
                dangling.extend(
                    {"marketo_id": row["id"], "crm": crm, "field": f"{prefix}{k}Id", "crm_id": ids[k]}
                    for k in ("Lead", "Contact")
                    if ids[k]
                )
                continue
            builder.add_person(row, kind, ids)

    converted_rows = sf.convert_some(converted)
    # CRM-only persons only in a CRM that the Marketo persons are synced to: a Marketo+Dynamics scenario
    # stays free of Salesforce rows
    only = (sf.add_crm_only(crm_only) if sf.leads or sf.contacts else []) + (
        dyn.add_crm_only(crm_only) if dyn.leads or dyn.contacts else []
    )
    return {
        **sf.frames(),
        **dyn.frames(),
        "dangling": pd.DataFrame(dangling, columns=["marketo_id", "crm", "field", "crm_id"]),
        "crm_only": pd.DataFrame(only, columns=["crm", "object", "id"]),
        "converted": pd.DataFrame(converted_rows, columns=["crm", "lead_id", "contact_id", "account_id"]),
    }


@dataclass
class _SalesforceBuilder:
    rng: np.random.Generator
    leads: dict[str, dict] = field(default_factory=dict)
    contacts: dict[str, dict] = field(default_factory=dict)
    accounts: dict[str, dict] = field(default_factory=dict)
    _serial: int = 0

    def _next_id(self, prefix: str) -> str:
        self._serial += 1
        return salesforce_id_18(f"{prefix}9Z0{self._serial:09d}")

    def _stamps(self, row: dict) -> dict:
        created, modified = _utc(row["createdAt"]), _utc(row.get("updatedAt") or row["createdAt"])
        return {
            "CreatedDate": created,
            "LastModifiedDate": modified,
            "SystemModstamp": modified,
            "IsDeleted": False,
        }

    def _account(self, account_id: str, row: dict) -> None:
        self.accounts.setdefault(
            account_id,
            {
                "Id": account_id,
                "Name": _text(row.get("company")),
                "Website": _text(row.get("website")),
                **self._stamps(row),
            },
        )

    def add_person(self, row: dict, kind: str | None, ids: dict[str, str | None]) -> None:
        if ids["Lead"]:
            self.leads[ids["Lead"]] = {
                "Id": ids["Lead"],
                "Email": _text(row.get("email")),
                "Company": _text(row.get("company")),
                "Website": _text(row.get("website")),
                "Status": LEAD_STATUSES[int(self.rng.integers(0, 2))],
                "LeadSource": LEAD_SOURCES[int(self.rng.integers(0, len(LEAD_SOURCES)))],
                "IsConverted": False,
                "ConvertedContactId": None,
                "ConvertedAccountId": None,
                "ConvertedDate": None,
                **self._stamps(row),
            }
        if ids["Contact"]:
            account_id = ids["Account"]
            if account_id:
                self._account(account_id, row)
            self.contacts[ids["Contact"]] = {
                "Id": ids["Contact"],
                "Email": _text(row.get("email")),
                "AccountId": account_id,
                "LeadSource": LEAD_SOURCES[int(self.rng.integers(0, len(LEAD_SOURCES)))],
                **self._stamps(row),
            }
            if ids["Lead"] and kind == "Contact":
                self._mark_converted(ids["Lead"], ids["Contact"], account_id)

    def _mark_converted(self, lead_id: str, contact_id: str, account_id: str | None) -> None:
        lead, contact = self.leads[lead_id], self.contacts[contact_id]
        lead.update(
            {
                "IsConverted": True,
                "Status": "Closed - Converted",
                "ConvertedContactId": contact_id,
                "ConvertedAccountId": account_id,
                "ConvertedDate": contact["CreatedDate"].date(),
            }
        )

    def convert_some(self, count: int) -> list[dict]:
        """Open leads converted after the sync: a new contact (same email) under a new account."""
        out: list[dict] = []
        for lead in list(self.leads.values()):
            if len(out) >= count:
                break
            if lead["IsConverted"]:
                continue
            account_id, contact_id = self._next_id("001"), self._next_id("003")
            when = lead["LastModifiedDate"] + pd.Timedelta(days=1)
            stamps = {
                "CreatedDate": when,
                "LastModifiedDate": when,
                "SystemModstamp": when,
                "IsDeleted": False,
            }
            self.accounts[account_id] = {
                "Id": account_id,
                "Name": lead["Company"],
                "Website": lead["Website"],
                **stamps,
            }
            self.contacts[contact_id] = {
                "Id": contact_id,
                "Email": lead["Email"],
                "AccountId": account_id,
                "LeadSource": lead["LeadSource"],
                **stamps,
            }
            self._mark_converted(lead["Id"], contact_id, account_id)
            lead.update({"LastModifiedDate": when, "SystemModstamp": when})
            out.append(
                {
                    "crm": "salesforce",
                    "lead_id": lead["Id"],
                    "contact_id": contact_id,
                    "account_id": account_id,
                }
            )
        return out

    def add_crm_only(self, count: int) -> list[dict]:
        out = []
        base = pd.Timestamp("2024-01-01", tz="UTC")
        for k in range(count):
            lead_id, account_id = self._next_id("00Q"), self._next_id("001")
            when = base + pd.Timedelta(days=int(self.rng.integers(0, 365)))
            stamps = {
                "CreatedDate": when,
                "LastModifiedDate": when,
                "SystemModstamp": when,
                "IsDeleted": False,
            }
            company, domain = f"Crmonly Works {k + 1} Inc", f"crmonlyworks{k + 1}.com"
            self.accounts[account_id] = {
                "Id": account_id,
                "Name": company,
                "Website": f"https://{domain}",
                **stamps,
            }
            self.leads[lead_id] = {
                "Id": lead_id,
                "Email": f"crm.only{k + 1}@{domain}",
                "Company": company,
                "Website": None,
                "Status": LEAD_STATUSES[0],
                "LeadSource": "Phone Inquiry",
                "IsConverted": False,
                "ConvertedContactId": None,
                "ConvertedAccountId": None,
                "ConvertedDate": None,
                **stamps,
            }
            out.append({"crm": "salesforce", "object": "Lead", "id": lead_id})
        return out

    def frames(self) -> dict[str, pd.DataFrame]:
        lead_cols = [
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
        ]
        contact_cols = [
            "Id",
            "Email",
            "AccountId",
            "LeadSource",
            "CreatedDate",
            "LastModifiedDate",
            "SystemModstamp",
            "IsDeleted",
        ]
        account_cols = [
            "Id",
            "Name",
            "Website",
            "CreatedDate",
            "LastModifiedDate",
            "SystemModstamp",
            "IsDeleted",
        ]
        return {
            "sf_lead": pd.DataFrame(list(self.leads.values()), columns=lead_cols),
            "sf_contact": pd.DataFrame(list(self.contacts.values()), columns=contact_cols),
            "sf_account": pd.DataFrame(list(self.accounts.values()), columns=account_cols),
        }


@dataclass
class _DynamicsBuilder:
    rng: np.random.Generator
    leads: dict[str, dict] = field(default_factory=dict)
    contacts: dict[str, dict] = field(default_factory=dict)
    accounts: dict[str, dict] = field(default_factory=dict)

    def _guid(self) -> str:
        h = f"{int(self.rng.integers(0, 2**63)):016x}{int(self.rng.integers(0, 2**63)):016x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"

    @staticmethod
    def _stamps(row: dict) -> dict:
        return {
            "createdon": _utc(row["createdAt"]),
            "modifiedon": _utc(row.get("updatedAt") or row["createdAt"]),
        }

    def add_person(self, row: dict, kind: str | None, ids: dict[str, str | None]) -> None:
        account_id = ids["Account"]
        if account_id:
            self.accounts.setdefault(
                account_id,
                {
                    "accountid": account_id,
                    "name": _text(row.get("company")),
                    "websiteurl": _text(row.get("website")),
                    "statecode": 0,
                    **self._stamps(row),
                },
            )
        if ids["Contact"]:
            self.contacts[ids["Contact"]] = {
                "contactid": ids["Contact"],
                "emailaddress1": _text(row.get("email")),
                "_parentcustomerid_value": account_id,
                "leadsourcecode": 1,
                "statecode": 0,
                **self._stamps(row),
            }
        if ids["Lead"]:
            qualified = kind == "Contact" and bool(ids["Contact"])
            self.leads[ids["Lead"]] = {
                "leadid": ids["Lead"],
                "emailaddress1": _text(row.get("email")),
                "companyname": _text(row.get("company")),
                "websiteurl": _text(row.get("website")),
                # statecode 1 = Qualified (Dataverse's conversion), statuscode 3 = Qualified, 1 = New
                "statecode": 1 if qualified else 0,
                "statuscode": 3 if qualified else 1,
                "leadsourcecode": 8,
                "_parentaccountid_value": account_id if qualified else None,
                "_parentcontactid_value": ids["Contact"] if qualified else None,
                **self._stamps(row),
            }

    def add_crm_only(self, count: int) -> list[dict]:
        out = []
        base = pd.Timestamp("2024-01-01", tz="UTC")
        for k in range(count):
            lead_id = self._guid()
            when = base + pd.Timedelta(days=int(self.rng.integers(0, 365)))
            self.leads[lead_id] = {
                "leadid": lead_id,
                "emailaddress1": f"dyn.only{k + 1}@dynonly{k + 1}.com",
                "companyname": f"Dynonly {k + 1} GmbH",
                "websiteurl": None,
                "statecode": 0,
                "statuscode": 1,
                "leadsourcecode": 8,
                "_parentaccountid_value": None,
                "_parentcontactid_value": None,
                "createdon": when,
                "modifiedon": when,
            }
            out.append({"crm": "dynamics", "object": "lead", "id": lead_id})
        return out

    def frames(self) -> dict[str, pd.DataFrame]:
        lead_cols = [
            "leadid",
            "emailaddress1",
            "companyname",
            "websiteurl",
            "statecode",
            "statuscode",
            "leadsourcecode",
            "_parentaccountid_value",
            "_parentcontactid_value",
            "createdon",
            "modifiedon",
        ]
        contact_cols = [
            "contactid",
            "emailaddress1",
            "_parentcustomerid_value",
            "leadsourcecode",
            "statecode",
            "createdon",
            "modifiedon",
        ]
        account_cols = ["accountid", "name", "websiteurl", "statecode", "createdon", "modifiedon"]
        return {
            "dyn_leads": pd.DataFrame(list(self.leads.values()), columns=lead_cols),
            "dyn_contacts": pd.DataFrame(list(self.contacts.values()), columns=contact_cols),
            "dyn_accounts": pd.DataFrame(list(self.accounts.values()), columns=account_cols),
        }


# ------------------------------------------------------------------------------------- shared HTTP plumbing
@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, default=str).encode()


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class _Fault:
    path_contains: str
    times: int
    make: Callable[[], Response] | None  # None: cut the connection mid-body


class HttpEmulator:
    """A threaded http.server on 127.0.0.1 (free port) with fault switches; subclasses implement `route`.

    Faults match on a substring of the request path and fire `times` times, in the order they were set.
    `stats` counts requests by the name `route` gives them, plus `faults` and `requests`.
    """

    def __init__(self) -> None:
        self.stats: Counter[str] = Counter()
        # set before start() to serve https (the vendors' own client libraries refuse plain http)
        self.ssl_context: ssl.SSLContext | None = None
        self._lock = threading.RLock()
        self._faults: list[_Fault] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> HttpEmulator:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # the tests' output stays readable
                pass

            def _handle(self) -> None:
                emulator._serve(self)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.ssl_context is not None:
            self._server.socket = self.ssl_context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HttpEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if not self._server:
            raise RuntimeError("emulator not started")
        host, port = self._server.server_address[:2]
        return f"{'https' if self.ssl_context else 'http'}://{host}:{port}"

    # fault switches
    def fail_with(self, path_contains: str, response: Callable[[], Response], times: int = 1) -> None:
        with self._lock:
            self._faults.append(_Fault(path_contains, times, response))

    def cut_connection(self, path_contains: str, times: int = 1) -> None:
        """The next matching request gets its headers and half its body, then the socket closes."""
        with self._lock:
            self._faults.append(_Fault(path_contains, times, None))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path_contains in path and fault.times > 0:
                    fault.times -= 1
                    self.stats["faults"] += 1
                    return fault
        return None

    # serving
    def route(self, request: Request) -> Response:
        raise NotImplementedError

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        request = Request(
            method=handler.command,
            path=split.path,
            query={k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()},
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=handler.rfile.read(length) if length else b"",
        )
        with self._lock:
            self.stats["requests"] += 1
        fault = self._take_fault(handler.path)
        cut = fault is not None and fault.make is None
        if fault is not None and fault.make is not None:
            response = fault.make()
        else:
            try:
                response = self.route(request)
            except Exception as exc:  # an emulator bug must show as a 500, not a hung client
                response = Response(500, [{"message": f"emulator error: {exc!r}", "errorCode": "UNKNOWN"}])
        payload = response.encode()
        handler.send_response(response.status)
        handler.send_header("Content-Type", response.headers.pop("Content-Type", "application/json"))
        for key, value in response.headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(payload)))
        if cut:
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(payload[: len(payload) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.end_headers()
        handler.wfile.write(payload)
