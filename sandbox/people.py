"""Synthetic Marketo persons: the describe metadata and a fast, seeded person generator.

The data is shaped like a real B2B Marketo instance so that the loaders and the dbt models meet the
problems they will meet in production: free-mail and malformed emails, persons synced to Salesforce (or
Dynamics) next to Marketo-only ones, contacts that share a CRM account, and a handful of rows whose text
breaks naive CSV handling (quotes, commas, CR/LF, NUL, U+2028, non-ASCII).

Everything is vectorized with numpy/pandas: a million persons take a few seconds, so the same generator
serves the tests, the demo and the benchmark.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from loaders.common.salesforce_ids import salesforce_id_18

# Default span: three years up to today's UTC midnight, so that a loader's rolling two-year window (B2)
# finds most persons recent and about a third of them too old to import.
DEFAULT_YEARS = 3


def default_span(today: datetime | None = None) -> tuple[datetime, datetime]:
    """(start, end) used when generate_leads gets none: the DEFAULT_YEARS up to today's UTC midnight."""
    end = (today or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return end - timedelta(days=365 * DEFAULT_YEARS), end


FREE_MAIL_DOMAINS = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com"]
LEAD_STATUSES = ["New", "Working", "Nurture", "MQL", "SQL", "Disqualified"]
LEAD_STATUS_WEIGHTS = [0.30, 0.15, 0.25, 0.12, 0.08, 0.10]
LEAD_SOURCES = [
    "Website",
    "Paid Search",
    "Webinar",
    "Trade Show",
    "Content Syndication",
    "List Import",
    "Referral",
    "Social",
]
TITLES = [
    "Marketing Manager",
    "VP Marketing",
    "CMO",
    "Demand Generation Manager",
    "Marketing Ops Analyst",
    "Sales Director",
    "CEO",
    "Data Engineer",
    "Analyst",
    "Product Manager",
    "IT Director",
]
COUNTRIES = [
    "United States",
    "United Kingdom",
    "France",
    "Germany",
    "Canada",
    "Japan",
    "Australia",
    "Netherlands",
    "Spain",
    "Brazil",
]
FIRST_NAMES = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Camille",
    "Louis",
    "Chloe",
    "Hugo",
    "Emma",
    "Lukas",
    "Mia",
    "Noah",
    "Yuki",
    "Haruto",
    "Sofia",
    "Mateo",
    "Olivia",
    "Liam",
    "Ava",
    "Ethan",
    "Isla",
    "Oscar",
    "Amelia",
    "Leo",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Martin",
    "Bernard",
    "Dubois",
    "Durand",
    "Muller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Sato",
    "Suzuki",
    "Takahashi",
    "Tanaka",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Lopez",
    "Hill",
    "Scott",
]
COMPANY_WORDS_A = [
    "Blue",
    "Red",
    "Green",
    "Bright",
    "Swift",
    "North",
    "Silver",
    "Golden",
    "Prime",
    "Summit",
    "Nova",
    "Vertex",
    "Atlas",
    "Apex",
    "Cedar",
    "Harbor",
    "Iron",
    "Lunar",
    "Quantum",
    "River",
]
COMPANY_WORDS_B = [
    "Rocket",
    "Data",
    "Cloud",
    "Analytics",
    "Systems",
    "Labs",
    "Networks",
    "Logistics",
    "Health",
    "Energy",
    "Foods",
    "Capital",
    "Media",
    "Robotics",
    "Software",
    "Partners",
    "Dynamics",
    "Works",
    "Retail",
    "Bio",
]
COMPANY_SUFFIXES = ["Inc", "LLC", "Ltd", "GmbH", "SA", "Corp", "Group", "Co"]

# (REST name, display name, Marketo dataType, length, read-only). ids below are stable across runs.
_FIELD_SPECS: list[tuple[str, str, str, int | None, bool]] = [
    ("id", "Id", "integer", None, True),
    ("email", "Email Address", "email", 255, False),
    ("firstName", "First Name", "string", 255, False),
    ("lastName", "Last Name", "string", 255, False),
    ("company", "Company Name", "string", 255, False),
    ("website", "Website", "url", 255, False),
    ("leadStatus", "Lead Status", "string", 255, False),
    ("leadSource", "Person Source", "string", 255, False),
    ("title", "Job Title", "string", 255, False),
    ("country", "Country", "string", 255, False),
    ("numberOfEmployees", "Num Employees", "integer", None, False),
    ("annualRevenue", "Annual Revenue", "currency", None, False),
    ("leadScore", "Lead Score", "integer", None, False),
    ("unsubscribed", "Unsubscribed", "boolean", None, False),
    ("dateOfBirth", "Date of Birth", "date", None, False),
    ("comments", "Comments", "text", 65535, False),
    ("createdAt", "Created At", "datetime", None, True),
    ("updatedAt", "Updated At", "datetime", None, True),
    ("sfdcType", "SFDC Type", "string", 255, True),
    ("sfdcLeadId", "SFDC Lead ID", "string", 18, True),
    ("sfdcContactId", "SFDC Contact ID", "string", 18, True),
    ("sfdcAccountId", "SFDC Account ID", "string", 18, True),
]
_DYNAMICS_FIELD_SPECS: list[tuple[str, str, str, int | None, bool]] = [
    ("msftType", "Dynamics Type", "string", 255, True),
    ("msftLeadId", "Dynamics Lead ID", "string", 36, True),
    ("msftContactId", "Dynamics Contact ID", "string", 36, True),
    ("msftAccountId", "Dynamics Account ID", "string", 36, True),
]


def _describe_entry(field_id: int, spec: tuple[str, str, str, int | None, bool]) -> dict:
    name, display, data_type, length, read_only = spec
    entry: dict = {"id": field_id, "displayName": display, "dataType": data_type}
    # Marketo leaves `length` out for types without one (integer, boolean, datetime, ...).
    if length is not None:
        entry["length"] = length
    entry["rest"] = {"name": name, "readOnly": read_only}
    entry["soap"] = {"name": name[:1].upper() + name[1:], "readOnly": read_only}
    return entry


def marketo_fields(with_dynamics: bool = False) -> list[dict]:
    """The `leads/describe.json` result for the generated instance. A Dynamics-synced instance also exposes
    the `msft*` CRM-id fields."""
    specs = _FIELD_SPECS + (_DYNAMICS_FIELD_SPECS if with_dynamics else [])
    return [_describe_entry(i, spec) for i, spec in enumerate(specs, start=1)]


MARKETO_FIELDS: list[dict] = marketo_fields()

# Text that trips CSV writers/readers; each lands on exactly one row when quirks=True.
QUIRK_COMPANY_QUOTE = 'Acme "Rockets", Inc.'
QUIRK_COMPANY_NON_ASCII = "Société Générale"
QUIRK_CITY_NON_ASCII = "東京"
QUIRK_COMMENT_NEWLINE = "Called twice.\nAsked for a demo."
QUIRK_COMMENT_CRLF = "Line one\r\nLine two"
QUIRK_COMMENT_NUL = "Imported\x00from legacy CRM"
QUIRK_TITLE_LINE_SEPARATOR = "Head of Growth\u2028EMEA"
QUIRK_COMMENT_NON_ASCII = f"Meeting in {QUIRK_CITY_NON_ASCII} — follow up"


def _pick(rng: np.random.Generator, values: list[str], n: int, p: list[float] | None = None) -> np.ndarray:
    """n draws from `values` as an object array (fancy indexing keeps it vectorized)."""
    pool = np.array(values, dtype=object)
    return pool[rng.choice(len(pool), size=n, p=p)]


def _companies(m: int) -> tuple[np.ndarray, np.ndarray]:
    """m distinct (company name, domain) pairs, deterministic. Beyond the word combinations a generation
    number keeps both the names and the domains unique, so lead-to-account matches are unambiguous."""
    a, b = len(COMPANY_WORDS_A), len(COMPANY_WORDS_B)
    names, domains = [], []
    for k in range(m):
        w1, w2, gen = COMPANY_WORDS_A[k % a], COMPANY_WORDS_B[(k // a) % b], k // (a * b)
        tag = f" {gen + 1}" if gen else ""
        names.append(f"{w1} {w2}{tag} {COMPANY_SUFFIXES[k % len(COMPANY_SUFFIXES)]}")
        domains.append(f"{w1}{w2}{gen + 1 if gen else ''}.com".lower())
    return np.array(names, dtype=object), np.array(domains, dtype=object)


def _crm_ids(prefix: str, numbers: np.ndarray) -> np.ndarray:
    """18-character Salesforce ids: a 3-char key prefix, a fixed pod part and a zero-padded number make the 15
    characters, then Salesforce's 3 case-checksum characters. Digits are never upper case, so every id of a
    prefix shares the checksum of the first."""
    bodies = prefix + "5g0" + pd.Series(numbers, dtype="int64").astype(str).str.zfill(9)
    suffix = salesforce_id_18(f"{prefix}5g0000000000")[15:]
    return (bodies + suffix).to_numpy(dtype=object)


def _guids(rng: np.random.Generator, count: int) -> np.ndarray:
    hexes = [f"{int(x):032x}" for x in rng.integers(0, 2**63, size=count, dtype=np.int64)]
    return np.array([f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}" for h in hexes], dtype=object)


def _to_utc(epoch_seconds: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(epoch_seconds, unit="s", utc=True)).astype("datetime64[s, UTC]")


def generate_leads(
    n: int,
    seed: int = 0,
    start: datetime | None = None,
    end: datetime | None = None,
    quirks: bool = True,
    with_dynamics: bool = False,
) -> pd.DataFrame:
    """n synthetic Marketo persons, one row each, columns = the REST names of `marketo_fields()`.

    `createdAt` is uniform in [start, end] (UTC, second precision) and ids grow with it, as Marketo's do;
    `updatedAt` >= `createdAt` and never after `end`, and about 1% of persons were last updated exactly at
    midnight UTC so that window boundaries (inclusive at both ends in the Bulk API) are actually exercised.
    About 40% of persons are synced to the CRM: Salesforce by default (`sfdc*`), Dynamics when
    `with_dynamics` (`msft*` filled, `sfdc*` left null). Without `start`/`end` the span is
    `default_span()`, which moves with the date; pass both for data that is identical on every day (tests).
    The same seed and span always give the same frame.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    if start is None or end is None:
        default_start, default_end = default_span()
        start, end = start or default_start, end or default_end
    t0, t1 = int(pd.Timestamp(start).timestamp()), int(pd.Timestamp(end).timestamp())
    if t1 < t0:
        raise ValueError(f"end ({end}) is before start ({start})")

    created = np.sort(rng.integers(t0, t1 + 1, size=n))
    ids = np.arange(1, n + 1, dtype=np.int64)
    # Most persons change a few days to months after creation; a third were never touched again.
    delay = (rng.exponential(30 * 86400, size=n) * (rng.random(n) > 0.33)).astype(np.int64)
    updated = np.minimum(created + delay, t1)
    midnight = rng.random(n) < 0.01
    snapped = updated // 86400 * 86400 + 86400
    updated = np.where(midnight & (snapped <= t1), snapped, updated)

    first = _pick(rng, FIRST_NAMES, n)
    last = _pick(rng, LAST_NAMES, n)
    m = max(50, min(20000, n // 20))
    company_names, company_domains = _companies(m)
    company_idx = rng.integers(0, m, size=n)
    company = company_names[company_idx]
    domain = company_domains[company_idx]

    mail_domain = domain.copy()
    free = rng.random(n) < 0.15
    mail_domain[free] = _pick(rng, FREE_MAIL_DOMAINS, int(free.sum()))
    lower_first = pd.Series(first).str.lower().to_numpy(dtype=object)
    lower_last = pd.Series(last).str.lower().to_numpy(dtype=object)
    email = (
        pd.Series(lower_first + "." + lower_last) + pd.Series(ids).astype(str) + "@" + pd.Series(mail_domain)
    ).to_numpy(dtype=object)
    roll = rng.random(n)
    upper, spaced, no_at, missing = (
        roll < 0.01,
        (roll >= 0.01) & (roll < 0.02),
        (roll >= 0.02) & (roll < 0.023),
        roll >= 0.98,
    )
    email[upper] = pd.Series(email[upper], dtype=object).str.upper().to_numpy(dtype=object)
    email[spaced] = " " + email[spaced] + " "
    email[no_at] = pd.Series(email[no_at], dtype=object).str.replace("@", " at ").to_numpy(dtype=object)
    email[missing] = None

    web_roll = rng.random(n)
    website = np.where(
        web_roll < 0.55,
        "https://www." + domain,
        np.where(web_roll < 0.70, "http://" + domain + "/", np.where(web_roll < 0.80, "www." + domain, None)),
    ).astype(object)

    employees = (10 ** rng.uniform(0.5, 5, size=m)).astype(np.int64)[company_idx]
    revenue = np.round(employees * rng.uniform(80_000, 300_000, size=n), -3).astype(np.float64)
    revenue[rng.random(n) < 0.3] = np.nan

    dob_mask = rng.random(n) < 0.2
    dob = pd.Series(pd.NaT, index=range(n), dtype="datetime64[s]")
    dob[dob_mask] = pd.to_datetime(rng.integers(-7300, 12000, size=int(dob_mask.sum())), unit="D")

    comments = np.full(n, None, dtype=object)
    has_comment = rng.random(n) < 0.05
    comments[has_comment] = _pick(
        rng,
        ["Asked for pricing", "Met at booth 12", "Requested a call back", "Downloaded the whitepaper"],
        int(has_comment.sum()),
    )

    frame = pd.DataFrame(
        {
            "id": ids,
            "email": email,
            "firstName": first,
            "lastName": last,
            "company": company,
            "website": website,
            "leadStatus": _pick(rng, LEAD_STATUSES, n, LEAD_STATUS_WEIGHTS),
            "leadSource": _pick(rng, LEAD_SOURCES, n),
            "title": _pick(rng, TITLES, n),
            "country": _pick(rng, COUNTRIES, n),
            "numberOfEmployees": pd.array(employees, dtype="Int64"),
            "annualRevenue": revenue,
            "leadScore": pd.array(rng.integers(0, 200, size=n), dtype="Int64"),
            "unsubscribed": rng.random(n) < 0.05,
            "dateOfBirth": dob,
            "comments": comments,
            "createdAt": _to_utc(created),
            "updatedAt": _to_utc(updated),
        }
    )
    _add_crm_ids(frame, rng, company_idx, with_dynamics)
    if quirks and n >= 8:
        _plant_quirks(frame, rng)
    return frame


def _add_crm_ids(frame: pd.DataFrame, rng: np.random.Generator, company_idx: np.ndarray, with_dynamics: bool) -> None:
    """About 40% of persons synced to the CRM: 60% as Leads, 40% as Contacts (half of those keep the id
    of the Lead they were converted from). Contacts of one company share one CRM account."""
    n = len(frame)
    synced = rng.random(n) < 0.40
    is_contact = synced & (rng.random(n) < 0.40)
    is_lead = synced & ~is_contact
    converted = is_contact & (rng.random(n) < 0.5)
    ids = frame["id"].to_numpy()
    crm_type = np.full(n, None, dtype=object)
    crm_type[is_lead], crm_type[is_contact] = "Lead", "Contact"
    lead_id = np.full(n, None, dtype=object)
    contact_id = np.full(n, None, dtype=object)
    account_id = np.full(n, None, dtype=object)
    with_lead_id = is_lead | converted
    if with_dynamics:
        lead_id[with_lead_id] = _guids(rng, int(with_lead_id.sum()))
        contact_id[is_contact] = _guids(rng, int(is_contact.sum()))
        account_guids = _guids(rng, int(company_idx.max()) + 1 if n else 0)
        account_id[is_contact] = account_guids[company_idx[is_contact]]
        names = ["msftType", "msftLeadId", "msftContactId", "msftAccountId"]
    else:
        lead_id[with_lead_id] = _crm_ids("00Q", ids[with_lead_id])
        contact_id[is_contact] = _crm_ids("003", ids[is_contact])
        account_id[is_contact] = _crm_ids("001", company_idx[is_contact] + 1)
        names = ["sfdcType", "sfdcLeadId", "sfdcContactId", "sfdcAccountId"]
    for col in ["sfdcType", "sfdcLeadId", "sfdcContactId", "sfdcAccountId"]:
        frame[col] = np.full(n, None, dtype=object)
    for col, values in zip(names, [crm_type, lead_id, contact_id, account_id], strict=True):
        frame[col] = values


def _plant_quirks(frame: pd.DataFrame, rng: np.random.Generator) -> None:
    """Put each CSV-hostile value on its own row, rows chosen by the seed."""
    rows = rng.choice(len(frame), size=8, replace=False)
    company = frame.columns.get_loc("company")
    comments = frame.columns.get_loc("comments")
    title = frame.columns.get_loc("title")
    last_name = frame.columns.get_loc("lastName")
    frame.iloc[rows[0], company] = QUIRK_COMPANY_QUOTE
    frame.iloc[rows[1], comments] = QUIRK_COMMENT_NEWLINE
    frame.iloc[rows[2], comments] = QUIRK_COMMENT_CRLF
    frame.iloc[rows[3], comments] = QUIRK_COMMENT_NUL
    frame.iloc[rows[4], company] = QUIRK_COMPANY_NON_ASCII
    frame.iloc[rows[5], last_name] = QUIRK_CITY_NON_ASCII
    frame.iloc[rows[6], comments] = QUIRK_COMMENT_NON_ASCII
    frame.iloc[rows[7], title] = QUIRK_TITLE_LINE_SEPARATOR


def generate_deleted(leads: pd.DataFrame, fraction: float = 0.01, seed: int = 0) -> list[dict]:
    """Delete activities for about `fraction` of `leads`: `{"leadId", "activityDate"}`, each after the
    lead's `createdAt`. Like a real activity log it holds one lead deleted twice and one delete of an id
    that is not in `leads` (a person created and deleted between two loads)."""
    rng = np.random.default_rng(seed + 1)
    n = len(leads)
    if n == 0:
        return []
    count = max(1, int(round(n * fraction)))
    rows = rng.choice(n, size=min(count, n), replace=False)
    created = pd.to_datetime(leads["createdAt"].iloc[rows], utc=True).reset_index(drop=True)
    lead_ids = leads["id"].to_numpy()[rows]
    # a delete happens after the person was created and no later than the newest update in the data
    latest = pd.to_datetime(leads["updatedAt"], utc=True).max()
    room = (latest - created).dt.total_seconds().clip(lower=1).to_numpy()
    dates = created + pd.to_timedelta((rng.random(len(rows)) * np.minimum(room, 90 * 86400)).astype(np.int64), unit="s")
    out = [{"leadId": int(lid), "activityDate": ts.to_pydatetime()} for lid, ts in zip(lead_ids, dates, strict=True)]
    out.append({"leadId": out[0]["leadId"], "activityDate": out[0]["activityDate"] + timedelta(seconds=1)})
    unknown = int(leads["id"].max()) + 1_000_000
    out.append({"leadId": unknown, "activityDate": out[0]["activityDate"] + timedelta(seconds=2)})
    out.sort(key=lambda d: d["activityDate"])
    return out
