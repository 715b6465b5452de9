"""Salesforce ids in their two forms are one record (issue 13): the 15-character id (case-sensitive: reports,
spreadsheets, some sync fields) and the 18-character id the API returns. The loaders land the 18-character
form; dbt staging converts too (macros/salesforce_id_18.sql), so every comparison of ids (Marketo<->CRM
duplicates B5, lead-to-account B8, conversions, contact account links) sees one id per record."""

from __future__ import annotations

import json
import random
import string

import duckdb

from loaders.common.salesforce_ids import salesforce_id_18
from tests.support import query, run_dbt
from tests.test_crm_dbt import (
    MARKETO_COLUMNS,
    SF_ACCOUNT_COLUMNS,
    SF_CONTACT_COLUMNS,
    SF_LEAD_COLUMNS,
    marketo_lead,
    write_table,
)

# Salesforce's own example of the two forms of one id
DOCUMENTED = {"001A0000006Vm9r": "001A0000006Vm9rIAC"}


def test_the_sql_macro_and_the_loaders_agree_on_every_id(tmp_path):
    rng = random.Random(13)
    ids = ["".join(rng.choice(string.ascii_letters + string.digits) for _ in range(15)) for _ in range(200)]
    ids += [*DOCUMENTED, "001A0000006Vm9rIAC", "short", ""]
    values = ", ".join(f"('{i}')" for i in ids)
    out = run_dbt(
        [
            "show",
            "--inline",
            f"select raw, {{{{ salesforce_id_18('raw') }}}} as id18 from (values {values}) as t(raw)",
            "--output",
            "json",
            "--limit",
            "1000",
            "--quiet",
        ],
        tmp_path / "w.duckdb",
    )
    converted = {r["raw"]: r["id18"] for r in json.loads(out.stdout)["show"]}
    assert converted == {i: salesforce_id_18(i) for i in ids}
    assert all(salesforce_id_18(k) == v for k, v in DOCUMENTED.items())
    # the checksum makes the 18-character form unique where case is lost
    assert len({salesforce_id_18(i).lower() for i in ids if len(i) == 15}) == len({i for i in ids if len(i) == 15})


def test_15_and_18_character_ids_match_as_one_record(tmp_path):
    """A Marketo contact and a Marketo lead whose sync fields carry 15-character ids, a CRM contact whose account
    link and a converted lead whose conversion links are 15-character: all match the 18-character records."""
    account15, contact15, lead15 = "001Kf00000AbCdE", "003Kf00000XyZab", "00QKf00000LmNoP"
    account, contact, lead = (salesforce_id_18(i) for i in (account15, contact15, lead15))
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        write_table(
            con,
            "raw_marketo.leads",
            MARKETO_COLUMNS,
            [
                marketo_lead(
                    1, "ann@ann.test", sfdc_type="Contact", sfdc_contact_id=contact15, sfdc_account_id=account15
                ),
                marketo_lead(2, "bob@bob.test", sfdc_type="Lead", sfdc_lead_id=lead15),
            ],
        )
        write_table(
            con, "raw_salesforce.account", SF_ACCOUNT_COLUMNS, [{"id": account, "name": "Kf", "is_deleted": False}]
        )
        write_table(
            con,
            "raw_salesforce.contact",
            SF_CONTACT_COLUMNS,
            [{"id": contact, "email": "ann@ann.test", "account_id": account15, "is_deleted": False}],
        )
        write_table(
            con,
            "raw_salesforce.lead",
            SF_LEAD_COLUMNS,
            [
                {
                    "id": lead,
                    "email": "bob@bob.test",
                    "is_converted": True,
                    "converted_contact_id": contact15,
                    "converted_account_id": account15,
                    "is_deleted": False,
                }
            ],
        )
    run_dbt(["build", "--select", "+biz_leads", "+biz_contacts", "--exclude-resource-type", "test", "unit_test"], path)
    columns = "id, source_system, is_duplicate, other_system_id, account_id, account_match_method"
    assert set(query(path, f"select {columns} from biz_contacts")) == {
        ("1", "Marketo", True, contact, account, "synced_contact_account"),
        (contact, "Crm", False, "1", account, "crm_contact_account"),
    }
    assert set(query(path, f"select {columns}, converted_contact_id from biz_leads")) == {
        # the converted lead's account, through the email domain of the account's converted leads (B8, method 8)
        ("2", "Marketo", True, lead, account, "email_to_lead_email_domain", None),
        (lead, "Crm", False, "2", account, "converted_account", contact),
    }
    assert query(path, "select count(*) from int_marketo_persons_matched_to_crm where has_dangling_crm_id") == [(0,)]
