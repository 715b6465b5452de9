"""The small SQL macros, compiled by dbt and run on DuckDB (one `dbt show` for all cases)."""

import json

from tests.support import run_dbt

URL_DOMAIN = {
    "https://WWW.Acme.com:443/path?q=1#x": "acme.com",
    "acme.com": "acme.com",
    "http://user:pw@sub.acme.com/": "sub.acme.com",
    "  www.acme.co.uk/": "acme.co.uk",
    "https://acme.com?utm_source=x": "acme.com",
    "": None,
}
EMAILS = {
    "  Jane.Doe@Acme.COM ": ("jane.doe@acme.com", "acme.com"),
    "not-an-email": (None, None),
    "@acme.com": (None, "acme.com"),
}


def show(tmp_path, sql: str) -> list[dict]:
    out = run_dbt(["show", "--inline", sql, "--output", "json", "--limit", "100", "--quiet"], tmp_path / "w.duckdb")
    return json.loads(out.stdout)["show"]


def test_url_domain(tmp_path):
    values = ", ".join(f"('{raw}')" for raw in URL_DOMAIN)
    rows = show(tmp_path, f"select raw, {{{{ url_domain('raw') }}}} as d from (values {values}) as t(raw)")
    assert {r["raw"]: r["d"] for r in rows} == URL_DOMAIN


def test_email_macros(tmp_path):
    values = ", ".join(f"('{raw}')" for raw in EMAILS)
    rows = show(
        tmp_path,
        "select raw, {{ normalize_email('raw') }} as e, {{ email_domain('raw') }} as d "
        f"from (values {values}) as t(raw)",
    )
    assert {r["raw"]: (r["e"], r["d"]) for r in rows} == EMAILS
