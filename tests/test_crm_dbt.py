"""CRM persons, duplicates (B5), lead-to-account (B8), Marketo-only mode (B11) and deletes (B12).

Each scenario writes the raw tables the loaders land (dlt's snake_case columns), runs the real `dbt build`
on every target (DuckDB, Postgres, Spark: tests/engines.py), and compares marts with the expected rows both
ways (set equality on the columns that carry the rule); every mart of the Postgres and Spark builds equals
the DuckDB build's, row for row."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from tests.conftest import engine_params
from tests.engines import SPARK_MODELS_ONLY, Scenario, Warehouse

T0 = "2024-01-01 00:00:00+00"

MARKETO_COLUMNS = {
    "id": "bigint",
    "email": "varchar",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "website": "varchar",
    "company": "varchar",
    "lead_status": "varchar",
    "lead_source": "varchar",
    "sfdc_type": "varchar",
    "sfdc_lead_id": "varchar",
    "sfdc_contact_id": "varchar",
    "sfdc_account_id": "varchar",
    "msft_type": "varchar",
    "msft_lead_id": "varchar",
    "msft_contact_id": "varchar",
    "msft_account_id": "varchar",
    "_read_at": "timestamptz",
}
SF_LEAD_COLUMNS = {
    "id": "varchar",
    "email": "varchar",
    "created_date": "timestamptz",
    "last_modified_date": "timestamptz",
    "system_modstamp": "timestamptz",
    "company": "varchar",
    "website": "varchar",
    "status": "varchar",
    "lead_source": "varchar",
    "is_converted": "boolean",
    "converted_contact_id": "varchar",
    "converted_account_id": "varchar",
    "converted_date": "timestamptz",
    "is_deleted": "boolean",
}
SF_CONTACT_COLUMNS = {
    "id": "varchar",
    "email": "varchar",
    "account_id": "varchar",
    "created_date": "timestamptz",
    "last_modified_date": "timestamptz",
    "system_modstamp": "timestamptz",
    "lead_source": "varchar",
    "is_deleted": "boolean",
}
SF_ACCOUNT_COLUMNS = {
    "id": "varchar",
    "name": "varchar",
    "website": "varchar",
    "created_date": "timestamptz",
    "last_modified_date": "timestamptz",
    "system_modstamp": "timestamptz",
    "is_deleted": "boolean",
}
# no is_deleted column: the loader has not seen a delete yet (absent -> false)
DYN_LEAD_COLUMNS = {
    "leadid": "varchar",
    "emailaddress1": "varchar",
    "createdon": "timestamptz",
    "modifiedon": "timestamptz",
    "companyname": "varchar",
    "websiteurl": "varchar",
    "statecode": "bigint",
    "statuscode": "bigint",
    "leadsourcecode": "bigint",
    "_parentaccountid_value": "varchar",
    "_parentcontactid_value": "varchar",
}
DYN_CONTACT_COLUMNS = {
    "contactid": "varchar",
    "emailaddress1": "varchar",
    "createdon": "timestamptz",
    "modifiedon": "timestamptz",
    "_parentcustomerid_value": "varchar",
    "leadsourcecode": "bigint",
    "statecode": "bigint",
    "is_deleted": "boolean",
}
DYN_ACCOUNT_COLUMNS = {
    "accountid": "varchar",
    "name": "varchar",
    "websiteurl": "varchar",
    "createdon": "timestamptz",
    "modifiedon": "timestamptz",
    "statecode": "bigint",
    "is_deleted": "boolean",
}


def write_table(con, table: str, columns: dict[str, str], rows: list[dict]) -> None:
    """Create `table` with `columns` and insert `rows` (dicts; missing keys are null, timestamps default T0)."""
    con.execute(f"create schema if not exists {table.split('.')[0]}")
    con.execute(f"create table {table} ({', '.join(f'{c} {t}' for c, t in columns.items())}, _dlt_id varchar)")
    for row in rows:
        values = [row.get(c, T0 if t == "timestamptz" and c != "converted_date" else None) for c, t in columns.items()]
        con.execute(f"insert into {table} values ({', '.join('?' * len(columns))}, 'x')", values)


def marketo_lead(id: int, email: str | None, **kw) -> dict:
    return {"id": id, "email": email, "_read_at": "2023-11-14 22:13:20+00", **kw}


MARKETO_LEADS = [
    marketo_lead(1, "Solo@P1.test ", lead_status="MQL"),
    # two Marketo persons synced to the same CRM lead: both duplicates, the CRM lead names the newer one
    marketo_lead(2, "two@p2.test", sfdc_type="Lead", sfdc_lead_id="00Q2", updated_at="2024-01-01 00:00:00+00"),
    marketo_lead(10, "ten@p2.test", sfdc_type="Lead", sfdc_lead_id="00Q2", updated_at="2024-02-01 00:00:00+00"),
    # synced as a contact: biz_contacts, account of the CRM contact (not the stale synced account id)
    marketo_lead(3, "three@p3.test", sfdc_type="Contact", sfdc_contact_id="003_3", sfdc_account_id="001X"),
    # contact whose CRM contact is absent: dangling, account from sfdcAccountId
    marketo_lead(11, "eleven@p11.test", sfdc_type="Contact", sfdc_contact_id="003_missing", sfdc_account_id="001A"),
    # synced as a lead, converted in Salesforce afterwards (Marketo still says Lead)
    marketo_lead(4, "four@p4.test", sfdc_type="Lead", sfdc_lead_id="00Q4"),
    # synced id naming a lead that is not in the CRM tables
    marketo_lead(5, "five@p5.test", sfdc_type="Lead", sfdc_lead_id="00Q_missing"),
    # Dynamics sync; Marketo carries the GUID upper-cased
    marketo_lead(6, "six@p6.test", msft_type="Lead", msft_lead_id="ABCD-0006"),
    marketo_lead(12, "twelve@p12.test", msft_type="Contact", msft_contact_id="CCCC-0012"),
    # deleted in Marketo (two delete activities)
    marketo_lead(7, "seven@p7.test"),
    # email in another case than the CRM contact's
    marketo_lead(8, "JANE@P8.test"),
    # lead-to-account, one person per method and edge
    marketo_lead(101, "p101@p101.test", website="https://www.WebCo.com/x"),
    marketo_lead(102, "p102@Mailco.com"),
    marketo_lead(103, "p103@p103.test", company="  ACME   holdings "),
    marketo_lead(104, "p104@p104.test", company="DomCo.net"),
    marketo_lead(105, "p105@p105.test", website="cweb.com"),
    marketo_lead(106, "p106@cmail.com"),
    marketo_lead(107, "p107@p107.test", website="lweb.com"),
    marketo_lead(108, "p108@lmail.com"),
    marketo_lead(109, "p109@mailco.com", website="webco.com"),
    marketo_lead(110, "p110@tie.com"),
    marketo_lead(111, "p111@p111.test", website="same.com"),
    marketo_lead(112, "p112@p112.test", website="gone.com"),
    marketo_lead(113, "p113@gmail.com", website="http://hotmail.com/"),
    marketo_lead(114, "p114@p114.test", website="sub.acme.com"),
    # B9: the website changed on the company record without bumping updatedAt; the re-read wins
    marketo_lead(115, "p115@p115.test", website="old.test"),
]
COMPANY_FIELDS = [{"id": 115, "company": None, "website": "www.webco.com", "_read_at": "2023-11-14 22:15:00+00"}]
DELETED_LEADS = [
    {"id": 1, "lead_id": 7, "activity_date": "2024-05-01 00:00:00+00"},
    {"id": 2, "lead_id": 7, "activity_date": "2024-05-02 00:00:00+00"},
    {"id": 3, "lead_id": 9999, "activity_date": "2024-05-02 00:00:00+00"},
]
SF_LEADS = [
    {"id": "00Q2", "email": "two@p2.test", "status": "Working", "is_converted": False, "is_deleted": False},
    {
        "id": "00Q4",
        "email": "four@p4.test",
        "status": "Qualified",
        "is_converted": True,
        "converted_contact_id": "003_4",
        "converted_account_id": "001B",
        "converted_date": "2024-03-01 00:00:00+00",
        "is_deleted": False,
    },
    {"id": "00Q7", "email": "del@p7.test", "is_converted": False, "is_deleted": True},
    {
        "id": "00QG1",
        "email": "z@lweb.com",
        "is_converted": True,
        "converted_contact_id": "003_G1",
        "converted_account_id": "001G",
        "is_deleted": False,
    },
    {
        "id": "00QH1",
        "email": "w@lmail.com",
        "is_converted": True,
        "converted_contact_id": "003_H1",
        "converted_account_id": "001H",
        "is_deleted": False,
    },
    {"id": "00Q20", "email": "h@MAILCO.com", "is_converted": False, "is_deleted": False},
]
SF_CONTACTS = [
    {"id": "003_3", "email": "three@p3.test", "account_id": "001E", "is_deleted": False},
    {"id": "003_4", "email": "four@p4.test", "account_id": "001B", "is_deleted": False},
    {"id": "003_8", "email": " jane@p8.TEST ", "is_deleted": False},
    {"id": "003_E1", "email": "x@cweb.com", "account_id": "001E", "is_deleted": False},
    {"id": "003_F1", "email": "y@cmail.com", "account_id": "001F", "is_deleted": False},
    {"id": "003_I1", "email": "t1@tie.com", "account_id": "001I", "is_deleted": False},
    {"id": "003_J1", "email": "t2@tie.com", "account_id": "001J", "is_deleted": False},
    {"id": "003_J2", "email": "t3@tie.com", "account_id": "001J", "is_deleted": False},
    {"id": "003_N1", "email": "g@gmail.com", "account_id": "001N", "is_deleted": False},
]
SF_ACCOUNTS = [
    {"id": "001A", "name": "Webco", "website": "https://www.webco.com/about"},
    {"id": "001B", "name": "Mailco", "website": "mailco.com"},
    {"id": "001C", "name": "Acme Holdings", "website": "acmeholdings.io"},
    {"id": "001D", "name": "Dom Inc", "website": "domco.net"},
    {"id": "001E", "name": "ContactWeb"},
    {"id": "001F", "name": "ContactMail"},
    {"id": "001G", "name": "LeadWeb"},
    {"id": "001H", "name": "LeadMail"},
    {"id": "001I", "name": "Tie One"},
    {"id": "001J", "name": "Tie Two"},
    {"id": "001L", "name": "Same Later", "website": "same.com"},
    {"id": "001K", "name": "Same Earlier", "website": "http://same.com"},
    {"id": "001M", "name": "Gone", "website": "gone.com", "is_deleted": True},
    {"id": "001N", "name": "Free Mail Inc", "website": "gmail.com"},
    {"id": "001O", "name": "Acme", "website": "acme.com"},
]
DYN_LEADS = [
    {"leadid": "abcd-0006", "emailaddress1": "six@p6.test", "statecode": 0, "statuscode": 1, "leadsourcecode": 8},
    {"leadid": "abcd-0030", "emailaddress1": "q@dynco.com", "statecode": 0, "statuscode": 2},
    # same domain as a Salesforce account: a Dynamics lead only matches Dynamics accounts
    {"leadid": "abcd-0031", "emailaddress1": "r@mailco.com", "statecode": 0, "statuscode": 1},
    {
        "leadid": "ABCD-0032",
        "emailaddress1": "s@p32.test",
        "statecode": 1,
        "statuscode": 3,
        "_parentcontactid_value": "CCCC-0033",
        "_parentaccountid_value": "EEEE-ACC2",
    },
]
DYN_CONTACTS = [
    {
        "contactid": "cccc-0012",
        "emailaddress1": "twelve@p12.test",
        "_parentcustomerid_value": "dddd-acc1",
        "statecode": 0,
        "is_deleted": True,
    },
]
DYN_ACCOUNTS = [
    {"accountid": "dddd-acc1", "name": "Dyn One", "statecode": 0, "is_deleted": False},
    {"accountid": "eeee-acc2", "name": "Dynco", "websiteurl": "https://dynco.com", "statecode": 0, "is_deleted": False},
]


def write_marketo(con) -> None:
    write_table(con, "raw_marketo.leads", MARKETO_COLUMNS, MARKETO_LEADS)
    write_table(
        con,
        "raw_marketo.deleted_leads",
        {"id": "bigint", "lead_id": "bigint", "activity_date": "timestamptz"},
        DELETED_LEADS,
    )
    write_table(
        con,
        "raw_marketo.lead_company_fields",
        {"id": "bigint", "company": "varchar", "website": "varchar", "_read_at": "timestamptz"},
        COMPANY_FIELDS,
    )


def write_crm_scenario(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        write_marketo(con)
        write_table(con, "raw_salesforce.lead", SF_LEAD_COLUMNS, SF_LEADS)
        write_table(con, "raw_salesforce.contact", SF_CONTACT_COLUMNS, SF_CONTACTS)
        write_table(con, "raw_salesforce.account", SF_ACCOUNT_COLUMNS, SF_ACCOUNTS)
        write_table(con, "raw_dynamics.leads", DYN_LEAD_COLUMNS, DYN_LEADS)
        write_table(con, "raw_dynamics.contacts", DYN_CONTACT_COLUMNS, DYN_CONTACTS)
        write_table(con, "raw_dynamics.accounts", DYN_ACCOUNT_COLUMNS, DYN_ACCOUNTS)


# the persons side (the web marts build empty): all that Spark builds of this scenario
PERSON_MARTS = ["biz_leads", "biz_contacts", "biz_accounts", "biz_account_to_emails", "dq_marketo_dangling_crm_ids"]


@pytest.fixture(scope="module")
def crm_scenario(tmp_path_factory, new_warehouse) -> Scenario:
    """Marketo + Salesforce + Dynamics: the person models and marts (the web models build empty)."""
    return Scenario(
        "crm", tmp_path_factory, new_warehouse, write_crm_scenario, ["build"],
        spark_args=[*SPARK_MODELS_ONLY, "--select", *(f"+{mart}" for mart in PERSON_MARTS)],
        compared=PERSON_MARTS,
    )  # fmt: skip


@pytest.fixture(scope="module", params=engine_params())
def crm_warehouse(request, crm_scenario) -> Warehouse:
    """The scenario built on one engine, once, for the assertions below."""
    return crm_scenario(request.param)


@pytest.mark.parametrize("engine", engine_params("postgres", "spark"))
def test_marts_equal_duckdb_marts(crm_scenario, engine):
    crm_scenario(engine)
    assert crm_scenario.differences[engine] == {}


def rows(warehouse: Warehouse, sql: str) -> set[tuple]:
    result = warehouse.query(sql)
    as_set = set(result)
    assert len(as_set) == len(result), f"duplicate rows from {sql}"
    return as_set


def assert_same(actual: set[tuple], expected: set[tuple]) -> None:
    assert actual - expected == set(), f"unexpected rows: {sorted(actual - expected, key=str)}"
    assert expected - actual == set(), f"missing rows: {sorted(expected - actual, key=str)}"


LEAD_COLUMNS = (
    "id, source_system, crm_system, is_duplicate, other_system_id, account_id, account_match_method,"
    " is_converted, converted_contact_id, is_deleted, email"
)
M, C, SF, DYN = "Marketo", "Crm", "salesforce", "dynamics"
EXPECTED_LEADS = {
    # Marketo persons
    ("1", M, None, False, None, None, None, False, None, False, "solo@p1.test"),
    ("2", M, SF, True, "00Q2", None, None, False, None, False, "two@p2.test"),
    ("10", M, SF, True, "00Q2", None, None, False, None, False, "ten@p2.test"),
    ("4", M, SF, True, "00Q4", "001B", "email_to_contact_email_domain", False, None, False, "four@p4.test"),
    ("5", M, SF, False, None, None, None, False, None, False, "five@p5.test"),
    ("6", M, DYN, True, "abcd-0006", None, None, False, None, False, "six@p6.test"),
    ("7", M, None, False, None, None, None, False, None, True, "seven@p7.test"),
    ("8", M, None, False, None, None, None, False, None, False, "jane@p8.test"),
    ("101", M, None, False, None, "001A", "website_domain", False, None, False, "p101@p101.test"),
    ("102", M, None, False, None, "001B", "email_domain", False, None, False, "p102@mailco.com"),
    ("103", M, None, False, None, "001C", "company_name", False, None, False, "p103@p103.test"),
    ("104", M, None, False, None, "001D", "company_to_website_domain", False, None, False, "p104@p104.test"),
    ("105", M, None, False, None, "001E", "website_to_contact_email_domain", False, None, False, "p105@p105.test"),
    ("106", M, None, False, None, "001F", "email_to_contact_email_domain", False, None, False, "p106@cmail.com"),
    ("107", M, None, False, None, "001G", "website_to_lead_email_domain", False, None, False, "p107@p107.test"),
    ("108", M, None, False, None, "001H", "email_to_lead_email_domain", False, None, False, "p108@lmail.com"),
    # website (method 1) beats email domain (method 2)
    ("109", M, None, False, None, "001A", "website_domain", False, None, False, "p109@mailco.com"),
    # two contacts on tie.com beat one
    ("110", M, None, False, None, "001J", "email_to_contact_email_domain", False, None, False, "p110@tie.com"),
    # same match count: smallest account id
    ("111", M, None, False, None, "001K", "website_domain", False, None, False, "p111@p111.test"),
    # deleted account, free-mail email and website, sub-domain: no match
    ("112", M, None, False, None, None, None, False, None, False, "p112@p112.test"),
    ("113", M, None, False, None, None, None, False, None, False, "p113@gmail.com"),
    ("114", M, None, False, None, None, None, False, None, False, "p114@p114.test"),
    ("115", M, None, False, None, "001A", "website_domain", False, None, False, "p115@p115.test"),
    # CRM leads
    ("00Q2", C, SF, False, "10", None, None, False, None, False, "two@p2.test"),
    ("00Q4", C, SF, False, "4", "001B", "converted_account", True, "003_4", False, "four@p4.test"),
    ("00Q7", C, SF, False, None, None, None, False, None, True, "del@p7.test"),
    ("00QG1", C, SF, False, None, "001G", "converted_account", True, "003_G1", False, "z@lweb.com"),
    ("00QH1", C, SF, False, None, "001H", "converted_account", True, "003_H1", False, "w@lmail.com"),
    ("00Q20", C, SF, False, None, "001B", "email_domain", False, None, False, "h@mailco.com"),
    ("abcd-0006", C, DYN, False, "6", None, None, False, None, False, "six@p6.test"),
    ("abcd-0030", C, DYN, False, None, "eeee-acc2", "email_domain", False, None, False, "q@dynco.com"),
    ("abcd-0031", C, DYN, False, None, None, None, False, None, False, "r@mailco.com"),
    ("abcd-0032", C, DYN, False, None, "eeee-acc2", "converted_account", True, "cccc-0033", False, "s@p32.test"),
}
CONTACT_COLUMNS = (
    "id, source_system, crm_system, is_duplicate, other_system_id, account_id, account_match_method, is_deleted, email"
)
EXPECTED_CONTACTS = {
    ("3", M, SF, True, "003_3", "001E", "synced_contact_account", False, "three@p3.test"),
    ("11", M, SF, False, None, "001A", "synced_account_id", False, "eleven@p11.test"),
    # the Dynamics contact is deleted but loaded: still a duplicate
    ("12", M, DYN, True, "cccc-0012", "dddd-acc1", "synced_contact_account", False, "twelve@p12.test"),
    ("003_3", C, SF, False, "3", "001E", "crm_contact_account", False, "three@p3.test"),
    ("003_4", C, SF, False, None, "001B", "crm_contact_account", False, "four@p4.test"),
    ("003_8", C, SF, False, None, None, None, False, "jane@p8.test"),
    ("003_E1", C, SF, False, None, "001E", "crm_contact_account", False, "x@cweb.com"),
    ("003_F1", C, SF, False, None, "001F", "crm_contact_account", False, "y@cmail.com"),
    ("003_I1", C, SF, False, None, "001I", "crm_contact_account", False, "t1@tie.com"),
    ("003_J1", C, SF, False, None, "001J", "crm_contact_account", False, "t2@tie.com"),
    ("003_J2", C, SF, False, None, "001J", "crm_contact_account", False, "t3@tie.com"),
    ("003_N1", C, SF, False, None, "001N", "crm_contact_account", False, "g@gmail.com"),
    ("cccc-0012", C, DYN, False, "12", "dddd-acc1", "crm_contact_account", True, "twelve@p12.test"),
}


def test_biz_leads(crm_warehouse):
    assert_same(rows(crm_warehouse, f"select {LEAD_COLUMNS} from main.biz_leads"), EXPECTED_LEADS)


def test_biz_contacts(crm_warehouse):
    assert_same(rows(crm_warehouse, f"select {CONTACT_COLUMNS} from main.biz_contacts"), EXPECTED_CONTACTS)


def test_stage_source_and_dates(crm_warehouse):
    actual = rows(
        crm_warehouse,
        "select id, bizible_stage, lead_source, converted_date from main.biz_leads"
        " where id in ('1', '00Q4', 'abcd-0006', 'abcd-0030')",
    )
    assert_same(
        actual,
        {
            ("1", "MQL", None, None),
            ("00Q4", "Qualified", None, dt.datetime(2024, 3, 1)),
            ("abcd-0006", "New", "Web", None),
            ("abcd-0030", "Contacted", None, None),
        },
    )


def test_dangling_ids_counted_not_duplicates(crm_warehouse):
    actual = rows(
        crm_warehouse,
        "select person_id, crm_synced_system, crm_synced_type, crm_synced_id, dangling_reason"
        " from main.dq_marketo_dangling_crm_ids",
    )
    assert_same(
        actual,
        {
            ("5", SF, "lead", "00Q_missing", "record_absent"),
            ("11", SF, "contact", "003_missing", "record_absent"),
        },
    )


def test_biz_accounts(crm_warehouse):
    actual = rows(crm_warehouse, "select id, domain, is_deleted, source_system from main.biz_accounts")
    expected = {
        ("001A", "webco.com", False, C),
        ("001B", "mailco.com", False, C),
        ("001C", "acmeholdings.io", False, C),
        ("001D", "domco.net", False, C),
        ("001E", None, False, C),
        ("001F", None, False, C),
        ("001G", None, False, C),
        ("001H", None, False, C),
        ("001I", None, False, C),
        ("001J", None, False, C),
        ("001K", "same.com", False, C),
        ("001L", "same.com", False, C),
        # deleted accounts stay in the mart, flagged (they only never match)
        ("001M", "gone.com", True, C),
        ("001N", "gmail.com", False, C),
        ("001O", "acme.com", False, C),
        ("dddd-acc1", None, False, C),
        ("eeee-acc2", "dynco.com", False, C),
    }
    assert_same(actual, expected)


def test_biz_account_to_emails(crm_warehouse):
    actual = rows(crm_warehouse, "select account_id, email, n_persons, is_deleted from main.biz_account_to_emails")
    expected = {
        ("001A", "p101@p101.test", 1, False),
        ("001A", "p109@mailco.com", 1, False),
        ("001A", "eleven@p11.test", 1, False),
        ("001A", "p115@p115.test", 1, False),
        ("001B", "four@p4.test", 3, False),
        ("001B", "p102@mailco.com", 1, False),
        ("001B", "h@mailco.com", 1, False),
        ("001C", "p103@p103.test", 1, False),
        ("001D", "p104@p104.test", 1, False),
        ("001E", "p105@p105.test", 1, False),
        ("001E", "three@p3.test", 2, False),
        ("001E", "x@cweb.com", 1, False),
        ("001F", "p106@cmail.com", 1, False),
        ("001F", "y@cmail.com", 1, False),
        ("001G", "p107@p107.test", 1, False),
        ("001G", "z@lweb.com", 1, False),
        ("001H", "p108@lmail.com", 1, False),
        ("001H", "w@lmail.com", 1, False),
        ("001I", "t1@tie.com", 1, False),
        ("001J", "p110@tie.com", 1, False),
        ("001J", "t2@tie.com", 1, False),
        ("001J", "t3@tie.com", 1, False),
        ("001K", "p111@p111.test", 1, False),
        ("001N", "g@gmail.com", 1, False),
        # the CRM contact is deleted, its Marketo twin is not
        ("dddd-acc1", "twelve@p12.test", 2, False),
        ("eeee-acc2", "q@dynco.com", 1, False),
        ("eeee-acc2", "s@p32.test", 1, False),
    }
    assert_same(actual, expected)


def test_persons_unioned_feeds_touchpoints(crm_warehouse):
    """CRM persons join the one person list (so they get touchpoints); counts by source_system (B10)."""
    actual = rows(
        crm_warehouse,
        "select source_system, person_type, count(*), sum(case when is_duplicate then 1 else 0 end)"
        " from main.int_persons_unioned group by 1, 2",
    )
    assert_same(actual, {(M, "lead", 23, 4), (M, "contact", 3, 2), (C, "lead", 10, 0), (C, "contact", 10, 0)})


# a var changes what the models compute, not the SQL each engine runs: rerun on DuckDB and Postgres (Spark
# would rebuild the scenario for each), whose copies are cheap
@pytest.mark.parametrize("crm_warehouse", engine_params("duckdb", "postgres"), indirect=True)
def test_email_only_matching_is_reported_separately(crm_warehouse, tmp_path):
    off = rows(crm_warehouse, "select id from main.biz_leads where is_email_duplicate")
    assert off == set()
    assert rows(crm_warehouse, "select id from main.biz_leads where email_matched_crm_id is not null") == set()
    duplicates_before = rows(crm_warehouse, "select id, is_duplicate from main.biz_leads")

    copy = crm_warehouse.copy(tmp_path / "email", "crm_email")
    copy.dbt(["run"], vars={"crm_email_duplicate_matching": True})
    assert_same(
        rows(copy, "select id, is_email_duplicate, email_matched_crm_id from main.biz_leads where is_email_duplicate"),
        {("8", True, "003_8")},
    )
    assert rows(copy, "select id, is_duplicate from main.biz_leads") == duplicates_before


@pytest.mark.parametrize("crm_warehouse", engine_params("duckdb", "postgres"), indirect=True)
def test_using_salesforce_off_reads_salesforce_as_empty(crm_warehouse, tmp_path):
    copy = crm_warehouse.copy(tmp_path / "nosf", "crm_nosf")
    copy.dbt(["run"], vars={"using_salesforce": False})
    assert rows(copy, "select distinct crm_system from main.biz_accounts") == {(DYN,)}
    assert_same(
        rows(copy, "select id, is_duplicate, other_system_id from main.biz_leads where id in ('2', '6')"),
        {("2", False, None), ("6", True, "abcd-0006")},
    )
    assert ("2", "crm_not_loaded") in rows(
        copy, "select person_id, dangling_reason from main.dq_marketo_dangling_crm_ids"
    )


# Spark: a source without files is covered by the scenario above (it has no web data)
@pytest.mark.parametrize("engine", engine_params("duckdb", "postgres"))
def test_marketo_only_mode(engine, new_warehouse, tmp_path):
    """No CRM tables at all (B11), and no web data: everything builds, every person is Marketo, synced ids
    dangle, the web marts are empty."""
    path = new_warehouse(engine, tmp_path, "marketo_only")
    with duckdb.connect(str(path.raw)) as con:
        write_marketo(con)
    path.dbt(["build"])
    assert rows(path, "select distinct source_system, is_duplicate from main.int_persons_unioned") == {(M, False)}
    assert rows(path, "select count(*) from main.biz_accounts") == {(0,)}
    assert_same(
        rows(path, "select id, account_id, account_match_method from main.biz_contacts"),
        {("3", "001X", "synced_account_id"), ("11", "001A", "synced_account_id"), ("12", None, None)},
    )
    assert rows(path, "select distinct dangling_reason from main.dq_marketo_dangling_crm_ids") == {("crm_not_loaded",)}
    assert rows(path, "select count(*) from main.biz_leads") == {(23,)}
    assert rows(path, "select count(*) from main.biz_touchpoints") == {(0,)}
    assert rows(path, "select count(*) from main.biz_sessions") == {(0,)}
