"""The CRM emulators' own wire formats (paging tokens, error bodies) and the CRM sandbox generator."""

from __future__ import annotations

import pandas as pd
import pytest
import requests

from sandbox.crm import generate_crm
from sandbox.salesforce import SalesforceEmulator


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
            "sfdcLeadId": [
                f"00Q{i:015d}" if i % 4 in (1, 2, 3) and i % 4 != 1 or i % 8 == 1 else None for i in ids
            ],
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
    body = sf_get(salesforce, "/services/data/v61.0/queryAll", tok, q=soql).json()
    total, records = body["totalSize"], list(body["records"])
    assert body["done"] is False and len(records) == 25
    assert body["nextRecordsUrl"].startswith("/services/data/v61.0/query/01g")
    assert body["nextRecordsUrl"].endswith("-25")
    first = records[0]
    assert first["attributes"] == {"type": "Lead", "url": f"/services/data/v61.0/sobjects/Lead/{first['Id']}"}
    assert first["SystemModstamp"].endswith("+0000") and len(first["SystemModstamp"]) == 28
    while not body["done"]:
        body = sf_get(salesforce, body["nextRecordsUrl"], tok).json()
        records += body["records"]
    assert "nextRecordsUrl" not in body and len(records) == total == len(salesforce.records("Lead"))
    stamps = [(r["SystemModstamp"], r["Id"]) for r in records]
    assert stamps == sorted(stamps)
    assert sf_get(salesforce, "/services/data/v61.0/query/01gFFFFFFFFFFFF-25", tok).json()[0][
        "errorCode"
    ] == ("INVALID_QUERY_LOCATOR")


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
    assert (
        error["errorCode"] == "INVALID_FIELD" and "No such column 'Nope' on entity 'Lead'" in error["message"]
    )
    resp = sf_get(salesforce, "/services/data/v61.0/queryAll", tok, q="SELEC Id FROM Lead")
    assert resp.status_code == 400 and resp.json()[0]["errorCode"] == "MALFORMED_QUERY"
    salesforce.exceed_request_limit()
    resp = sf_get(salesforce, "/services/data/v61.0/sobjects/Lead/describe", tok)
    assert resp.status_code == 403 and resp.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    salesforce.exceed_request_limit(False)
    salesforce.fail_next("describe", 503, "SERVER_UNAVAILABLE", times=2)
    assert [
        sf_get(salesforce, "/services/data/v61.0/sobjects/Lead/describe", tok).status_code for _ in range(3)
    ] == [503, 503, 200]
    salesforce.cut_connection("describe")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        sf_get(salesforce, "/services/data/v61.0/sobjects/Lead/describe", tok)
    assert salesforce.stats["faults"] == 3


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
