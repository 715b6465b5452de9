"""The CRM emulators' own wire formats (paging tokens, error bodies) and the CRM sandbox generator."""

from __future__ import annotations

import time

import pandas as pd
import pytest
import requests
from azure.core.credentials import AccessToken
from PowerPlatform.Dataverse.client import DataverseClient
from simple_salesforce import Salesforce

from loaders.common.salesforce_ids import salesforce_id_18
from sandbox.crm import generate_crm
from sandbox.dynamics import DynamicsEmulator
from sandbox.salesforce import SalesforceEmulator
from tests.support import self_signed_tls


def marketo_persons() -> pd.DataFrame:
    ids = range(1, 121)
    base = pd.Timestamp("2025-01-01", tz="UTC")
    return pd.DataFrame(
        {
            "id": list(ids),
            "email": [f" P{i}@Acme{i % 10}.com " if i == 7 else f"p{i}@acme{i % 10}.com" for i in ids],
            "company": [f"Acme {i % 10}" for i in ids],
            "website": [f"https://acme{i % 10}.com" for i in ids],
            "createdAt": [base + pd.Timedelta(days=i) for i in ids],
            "updatedAt": [base + pd.Timedelta(days=i + 3) for i in ids],
            "sfdcType": [None if i % 4 == 0 else ("Contact" if i % 4 == 1 else "Lead") for i in ids],
            "sfdcLeadId": [f"00Q{i:015d}" if i % 4 in (1, 2, 3) and i % 4 != 1 or i % 8 == 1 else None for i in ids],
            "sfdcContactId": [f"003{i:015d}" if i % 4 == 1 else None for i in ids],
            "sfdcAccountId": [f"001{i % 10:015d}" if i % 4 == 1 else None for i in ids],
        }
    )


@pytest.fixture
def salesforce():
    crm = generate_crm(marketo_persons())
    with SalesforceEmulator(crm["sf_lead"], crm["sf_contact"], crm["sf_account"], page_size=25) as emu:
        yield emu


def token(emu: SalesforceEmulator) -> str:
    body = requests.post(
        f"{emu.base_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
        },
    ).json()
    assert body["instance_url"] == emu.base_url and body["token_type"] == "Bearer"
    assert {"issued_at", "signature", "id"} <= body.keys()
    return body["access_token"]


def sf_get(emu: SalesforceEmulator, path: str, tok: str, **params) -> requests.Response:
    return requests.get(f"{emu.base_url}{path}", params=params, headers={"Authorization": f"Bearer {tok}"})


def test_salesforce_token_errors(salesforce):
    bad = requests.post(
        f"{salesforce.base_url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"
    assert "error_description" in bad.json()
    resp = sf_get(salesforce, "/services/data/v61.0/queryAll", "nope", q="SELECT Id FROM Lead")
    assert resp.status_code == 401
    assert resp.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    tok = token(salesforce)
    salesforce.expire_tokens()
    assert sf_get(salesforce, "/services/data/v61.0/sobjects/Lead/describe", tok).status_code == 401


def test_salesforce_describe_and_query_paging(salesforce):
    tok = token(salesforce)
    fields = sf_get(salesforce, "/services/data/v61.0/sobjects/Lead/describe", tok).json()["fields"]
    types = {f["name"]: f["type"] for f in fields}
    assert types["Id"] == "id" and types["SystemModstamp"] == "datetime" and types["IsDeleted"] == "boolean"
    assert types["ConvertedDate"] == "date" and types["ConvertedContactId"] == "reference"
    assert all({"name", "type", "custom", "nillable"} <= f.keys() for f in fields)

    soql = "SELECT Id, Email, SystemModstamp FROM Lead ORDER BY SystemModstamp, Id"
    body = body_first = sf_get(salesforce, "/services/data/v61.0/queryAll", tok, q=soql).json()
    total, records = body["totalSize"], list(body["records"])
    # a page holds at most the batch size, often fewer ("no guarantee that the requested batch size is the
    # actual batch size"); the locator says where the next page starts
    assert body["done"] is False and 5 <= len(records) <= 25
    assert body["nextRecordsUrl"].startswith("/services/data/v61.0/query/01g")
    assert body["nextRecordsUrl"].endswith(f"-{len(records)}")
    first = records[0]
    assert first["attributes"] == {"type": "Lead", "url": f"/services/data/v61.0/sobjects/Lead/{first['Id']}"}
    assert first["SystemModstamp"].endswith("+0000") and len(first["SystemModstamp"]) == 28
    while not body["done"]:
        body = sf_get(salesforce, body["nextRecordsUrl"], tok).json()
        records += body["records"]
    assert "nextRecordsUrl" not in body and len(records) == total == len(salesforce.records("Lead"))
    assert len(set(salesforce.page_sizes[:-1])) > 1 and max(salesforce.page_sizes) <= 25
    stamps = [(r["SystemModstamp"], r["Id"]) for r in records]
    assert stamps == sorted(stamps)
    locator_url = body_first["nextRecordsUrl"].replace("/query/", "/queryAll/")
    second = sf_get(salesforce, locator_url, tok).json()["records"]
    assert second == records[len(body_first["records"]) : len(body_first["records"]) + len(second)]
    assert sf_get(salesforce, "/services/data/v61.0/query/01gFFFFFFFFFFFF-25", tok).json()[0]["errorCode"] == (
        "INVALID_QUERY_LOCATOR"
    )


def test_salesforce_where_operators_and_deletes(salesforce):
    tok = token(salesforce)
    lead = sorted(salesforce.records("Lead"), key=lambda r: r["SystemModstamp"])[10]
    literal = lead["SystemModstamp"].strftime("%Y-%m-%dT%H:%M:%SZ")

    def ids(op: str) -> set[str]:
        soql = f"SELECT Id FROM Lead WHERE SystemModstamp {op} {literal} ORDER BY SystemModstamp, Id"
        out, body = set(), sf_get(salesforce, "/services/data/v61.0/queryAll", tok, q=soql).json()
        out |= {r["Id"] for r in body["records"]}
        while not body["done"]:
            body = sf_get(salesforce, body["nextRecordsUrl"], tok).json()
            out |= {r["Id"] for r in body["records"]}
        return out

    assert lead["Id"] in ids(">=") and lead["Id"] not in ids(">")
    salesforce.delete("Lead", [lead["Id"]])
    deleted = [r for r in salesforce.records("Lead") if r["Id"] == lead["Id"]][0]
    assert deleted["IsDeleted"] is True and deleted["SystemModstamp"] > lead["SystemModstamp"]
    body = sf_get(
        salesforce,
        "/services/data/v61.0/queryAll",
        tok,
        q=f"SELECT Id, IsDeleted FROM Lead WHERE SystemModstamp > {literal}",
    ).json()
    assert body["records"] or not body["done"]


def test_salesforce_error_bodies(salesforce):
    tok = token(salesforce)
    resp = sf_get(salesforce, "/services/data/v61.0/queryAll", tok, q="SELECT Id, Nope FROM Lead")
    assert resp.status_code == 400
    [error] = resp.json()
    assert error["errorCode"] == "INVALID_FIELD" and "No such column 'Nope' on entity 'Lead'" in error["message"]
    resp = sf_get(salesforce, "/services/data/v61.0/queryAll", tok, q="SELEC Id FROM Lead")
    assert resp.status_code == 400 and resp.json()[0]["errorCode"] == "MALFORMED_QUERY"
    salesforce.exceed_request_limit()
    resp = sf_get(salesforce, "/services/data/v61.0/sobjects/Lead/describe", tok)
    assert resp.status_code == 403 and resp.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    salesforce.exceed_request_limit(False)
    salesforce.fail_next("describe", 503, "SERVER_UNAVAILABLE", times=2)
    assert [sf_get(salesforce, "/services/data/v61.0/sobjects/Lead/describe", tok).status_code for _ in range(3)] == [
        503,
        503,
        200,
    ]
    salesforce.cut_connection("describe")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        sf_get(salesforce, "/services/data/v61.0/sobjects/Lead/describe", tok)
    assert salesforce.stats["faults"] == 3


def test_salesforce_query_leaves_deleted_out_and_every_response_reports_api_usage(salesforce):
    tok = token(salesforce)
    lead = salesforce.records("Lead")[0]["Id"]
    salesforce.delete("Lead", [lead])

    def ids(resource: str) -> set[str]:
        body = sf_get(salesforce, f"/services/data/v61.0/{resource}", tok, q="SELECT Id FROM Lead").json()
        out = {r["Id"] for r in body["records"]}
        while not body["done"]:
            body = sf_get(salesforce, body["nextRecordsUrl"], tok).json()
            out |= {r["Id"] for r in body["records"]}
        return out

    assert lead in ids("queryAll") and lead not in ids("query")
    assert ids("queryAll") - ids("query") == {lead}
    salesforce.daily_api_limit, salesforce.api_usage = 1000, 998
    first = sf_get(salesforce, "/services/data/v61.0/sobjects/Lead/describe", tok)
    assert first.status_code == 200 and first.headers["Sforce-Limit-Info"] == "api-usage=999/1000"
    assert sf_get(salesforce, "/services/data/v61.0/sobjects/Lead/describe", tok).status_code == 200
    over = sf_get(salesforce, "/services/data/v61.0/sobjects/Lead/describe", tok)
    assert over.status_code == 403 and over.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert over.headers["Sforce-Limit-Info"] == "api-usage=1000/1000"


def test_simple_salesforce_reads_the_emulator(tmp_path, monkeypatch):
    """simple-salesforce (it only speaks https, so the emulator serves TLS here) pages through query and
    queryAll, and reads the org's API usage from the Sforce-Limit-Info header."""
    context, ca_file = self_signed_tls(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    crm = generate_crm(marketo_persons())
    emu = SalesforceEmulator(crm["sf_lead"], crm["sf_contact"], crm["sf_account"], page_size=200)
    emu.ssl_context = context
    extra = [{"Id": salesforce_id_18(f"00Q9Z0{i:09d}"), "Email": f"x{i}@bulk.example"} for i in range(1, 1200)]
    with emu:
        emu.upsert("Lead", extra)
        gone = extra[0]["Id"]
        emu.delete("Lead", [gone])
        sf = Salesforce(instance_url=emu.base_url, session_id=token(emu), version="61.0")
        live = sf.query_all("SELECT Id, Email FROM Lead")
        every = sf.query_all("SELECT Id, IsDeleted FROM Lead", include_deleted=True)
        assert live["totalSize"] == len(live["records"]) == len(emu.records("Lead")) - 1
        assert gone in {r["Id"] for r in every["records"]} - {r["Id"] for r in live["records"]}
        assert len(emu.page_sizes) > 2 * len(emu.records("Lead")) // 200  # pages of fewer than 200, paged through
        assert sf.api_usage["api-usage"].used == emu.api_usage and sf.api_usage["api-usage"].total == 100_000
        assert {f["name"] for f in sf.Lead.describe()["fields"]} >= {"Id", "Email", "IsDeleted"}


def test_generate_crm_is_consistent_with_marketo_persons():
    persons = marketo_persons()
    crm = generate_crm(persons, seed=3)
    lead, contact, account = crm["sf_lead"], crm["sf_contact"], crm["sf_account"]
    dangling = set(crm["dangling"]["crm_id"])
    assert dangling, "at least one dangling synced id"
    named_leads = set(persons["sfdcLeadId"].dropna()) - dangling
    named_contacts = set(persons["sfdcContactId"].dropna()) - dangling
    assert named_leads <= set(lead["Id"]) and not dangling & set(lead["Id"]) | dangling & set(contact["Id"])
    assert named_contacts <= set(contact["Id"])
    # every contact's account exists; emails are carried over trimmed
    assert set(contact["AccountId"].dropna()) <= set(account["Id"])
    by_id = persons.set_index("sfdcLeadId")
    for row in lead[lead["Id"].isin(named_leads)].itertuples():
        assert row.Email == by_id.loc[row.Id, "email"].strip()
    # converted leads point at an existing contact and account
    converted = lead[lead["IsConverted"]]
    assert len(crm["converted"]) == 3
    assert set(converted["ConvertedContactId"]) <= set(contact["Id"])
    assert set(converted["ConvertedAccountId"].dropna()) <= set(account["Id"])
    assert set(crm["crm_only"]["id"]) <= set(lead["Id"])
    assert not lead["IsDeleted"].any() and (lead["SystemModstamp"] == lead["LastModifiedDate"]).all()
    assert generate_crm(persons, seed=3)["sf_lead"].equals(lead)
    assert crm["dyn_leads"].empty


def dynamics_persons() -> pd.DataFrame:
    ids = range(1, 61)
    base = pd.Timestamp("2025-01-01", tz="UTC")
    return pd.DataFrame(
        {
            "id": list(ids),
            "email": [f"p{i}@initech{i % 6}.com" for i in ids],
            "company": [f"Initech {i % 6}" for i in ids],
            "website": [f"https://initech{i % 6}.com" for i in ids],
            "createdAt": [base + pd.Timedelta(days=i) for i in ids],
            "updatedAt": [base + pd.Timedelta(days=i, hours=5) for i in ids],
            "sfdcType": [None] * 60,
            "sfdcLeadId": [None] * 60,
            "sfdcContactId": [None] * 60,
            "sfdcAccountId": [None] * 60,
            "msftType": ["Contact" if i % 2 else "Lead" for i in ids],
            "msftLeadId": [f"10000000-0000-4000-a000-{i:012x}" for i in ids],
            "msftContactId": [f"30000000-0000-4000-a000-{i:012x}" if i % 2 else None for i in ids],
            "msftAccountId": [f"20000000-0000-4000-a000-{i % 6:012x}" if i % 2 else None for i in ids],
        }
    )


@pytest.fixture
def dynamics():
    crm = generate_crm(dynamics_persons())
    with DynamicsEmulator(crm["dyn_leads"], crm["dyn_contacts"], crm["dyn_accounts"], page_size=5000) as emu:
        yield emu


def dv_token(emu: DynamicsEmulator, scope: str | None = None) -> requests.Response:
    return requests.post(
        emu.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "scope": scope or f"{emu.base_url}/.default",
        },
    )


def dv_get(emu: DynamicsEmulator, url: str, tok: str, page_size: int = 10, **params) -> requests.Response:
    headers = {"Authorization": f"Bearer {tok}", "Prefer": f"odata.maxpagesize={page_size}"}
    return requests.get(url if url.startswith("http") else f"{emu.base_url}{url}", params=params, headers=headers)


def test_dynamics_token_and_auth_errors(dynamics):
    body = dv_token(dynamics).json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599 and body["access_token"]
    bad_scope = dv_token(dynamics, scope="https://org.crm.dynamics.com")
    assert bad_scope.status_code == 400 and bad_scope.json()["error"] == "invalid_scope"
    bad = requests.post(
        dynamics.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": "x",
            "client_secret": "y",
            "scope": "z/.default",
        },
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    resp = dv_get(dynamics, "/api/data/v9.2/leads", "expired")
    assert resp.status_code == 401 and 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


def test_dynamics_paging_select_filter_orderby(dynamics):
    tok = dv_token(dynamics).json()["access_token"]
    select = "leadid,emailaddress1,modifiedon,_parentaccountid_value"
    resp = dv_get(dynamics, "/api/data/v9.2/leads", tok, **{"$select": select, "$orderby": "modifiedon asc,leadid asc"})
    assert resp.headers["Preference-Applied"] == "odata.maxpagesize=10"
    body = resp.json()
    assert body["@odata.context"] == f"{dynamics.base_url}/api/data/v9.2/$metadata#leads({select})"
    rows = list(body["value"])
    assert len(rows) == 10 and rows[0]["@odata.etag"].startswith('W/"')
    assert set(rows[0]) == {"@odata.etag", *select.split(",")}
    assert rows[0]["modifiedon"].endswith("Z") and len(rows[0]["modifiedon"]) == 20
    while "@odata.nextLink" in body:
        assert body["@odata.nextLink"].startswith(f"{dynamics.base_url}/api/data/v9.2/leads?")
        assert "skiptoken" in body["@odata.nextLink"]
        body = dv_get(dynamics, body["@odata.nextLink"], tok).json()
        rows += body["value"]
    assert len(rows) == len(dynamics.records("leads"))
    assert [r["modifiedon"] for r in rows] == sorted(r["modifiedon"] for r in rows)
    assert any(r["_parentaccountid_value"] for r in rows)  # qualified leads carry the lookup

    cutoff = rows[20]["modifiedon"]
    ge = dv_get(
        dynamics,
        "/api/data/v9.2/leads",
        tok,
        5000,
        **{"$select": "leadid", "$filter": f"modifiedon ge {cutoff}"},
    ).json()
    gt = dv_get(
        dynamics,
        "/api/data/v9.2/leads",
        tok,
        5000,
        **{"$select": "leadid", "$filter": f"modifiedon gt {cutoff}"},
    ).json()
    assert len(ge["value"]) == len(rows) - 20 and len(gt["value"]) < len(ge["value"])


def test_dynamics_error_bodies_and_faults(dynamics):
    tok = dv_token(dynamics).json()["access_token"]
    resp = dv_get(dynamics, "/api/data/v9.2/contacts", tok, **{"$select": "contactid,nope"})
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "0x80060888" and "'nope'" in resp.json()["error"]["message"]
    resp = dv_get(dynamics, "/api/data/v9.2/contacts", tok, **{"$filter": "name eq 'x'"})
    assert resp.status_code == 400 and "error" in resp.json()
    dynamics.throttle(times=1, retry_after=7)
    resp = dv_get(dynamics, "/api/data/v9.2/accounts", tok)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert resp.json()["error"]["code"] == "0x80072322"
    assert dv_get(dynamics, "/api/data/v9.2/accounts", tok).status_code == 200
    dynamics.expire_tokens()
    assert dv_get(dynamics, "/api/data/v9.2/accounts", tok).status_code == 401

    tok = dv_token(dynamics).json()["access_token"]
    lead = dynamics.records("leads")[0]
    dynamics.delete("leads", [lead["leadid"]])
    ids = {r["leadid"] for r in dv_get(dynamics, "/api/data/v9.2/leads", tok, 5000).json()["value"]}
    assert lead["leadid"] not in ids  # a hard delete, as in Dataverse
    dynamics.upsert("accounts", [{"accountid": "a-new", "name": "New"}])
    new = [r for r in dynamics.records("accounts") if r["accountid"] == "a-new"][0]
    assert new["createdon"] == new["modifiedon"] and new["createdon"].tzinfo is not None


def test_dynamics_top_caps_the_query_and_pages_within_it(dynamics):
    tok = dv_token(dynamics).json()["access_token"]
    query = {"$select": "leadid", "$orderby": "leadid asc"}
    every = [r["leadid"] for r in dv_get(dynamics, "/api/data/v9.2/leads", tok, 5000, **query).json()["value"]]
    assert len(every) > 7
    alone = dv_get(dynamics, "/api/data/v9.2/leads", tok, 5000, **query, **{"$top": "7"}).json()
    assert [r["leadid"] for r in alone["value"]] == every[:7] and "@odata.nextLink" not in alone
    # with a smaller page size: pages of that size, and no page past the 7th row
    body = dv_get(dynamics, "/api/data/v9.2/leads", tok, 3, **query, **{"$top": "7"}).json()
    pages = [body["value"]]
    while "@odata.nextLink" in body:
        body = dv_get(dynamics, body["@odata.nextLink"], tok, 3).json()
        pages.append(body["value"])
    assert [len(p) for p in pages] == [3, 3, 1] and [r["leadid"] for p in pages for r in p] == every[:7]
    bad = dv_get(dynamics, "/api/data/v9.2/leads", tok, **{"$top": "0"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "0x80060888"


class EmulatorCredential:
    """An azure-core TokenCredential that asks the emulator's Entra ID token endpoint, as a client secret
    credential would ask login.microsoftonline.com."""

    def __init__(self, emu: DynamicsEmulator) -> None:
        self.emu = emu

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        body = dv_token(self.emu, scope=scopes[0]).json()
        return AccessToken(body["access_token"], int(time.time()) + body["expires_in"])


def test_dataverse_client_reads_the_emulator(tmp_path, monkeypatch):
    """Microsoft's Dataverse client (https only, so the emulator serves TLS here) finds the entity set from
    EntityDefinitions, pages with Prefer: odata.maxpagesize and caps with $top."""
    context, ca_file = self_signed_tls(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    crm = generate_crm(dynamics_persons())
    emu = DynamicsEmulator(crm["dyn_leads"], crm["dyn_contacts"], crm["dyn_accounts"])
    emu.ssl_context = context
    with emu, DataverseClient(emu.base_url, EmulatorCredential(emu)) as client:
        leads = client.records.list("lead", select=["leadid", "emailaddress1"], page_size=7)
        assert sorted(r["leadid"] for r in leads) == sorted(r["leadid"] for r in emu.records("leads"))
        next_pages = emu.stats["next_page"]
        assert next_pages + 1 == -(-len(leads) // 7) > 2
        contacts = client.records.list("contact", select=["contactid"], top=5, page_size=2)
        # pages of 2, 2 and 1 rows, none past the fifth
        assert len(contacts) == 5 and emu.stats["next_page"] - next_pages == 2


def test_generate_crm_for_dynamics_persons():
    persons = dynamics_persons()
    crm = generate_crm(persons, seed=1)
    leads, contacts, accounts = crm["dyn_leads"], crm["dyn_contacts"], crm["dyn_accounts"]
    assert crm["sf_lead"].empty or set(crm["sf_lead"]["Id"]) == set(crm["crm_only"].query("crm == 'salesforce'")["id"])
    dangling = set(crm["dangling"]["crm_id"])
    assert dangling and set(crm["dangling"]["crm"]) == {"dynamics"}
    assert set(persons["msftLeadId"].dropna()) - dangling <= set(leads["leadid"])
    assert set(persons["msftContactId"].dropna()) - dangling <= set(contacts["contactid"])
    assert set(contacts["_parentcustomerid_value"].dropna()) <= set(accounts["accountid"])
    qualified = leads[leads["statecode"] == 1]
    assert len(qualified) > 0 and set(qualified["_parentcontactid_value"]) <= set(contacts["contactid"])
    assert len(crm["crm_only"].query("crm == 'dynamics'")) == 5
