"""The sandbox web-event generator: contract shapes, and the traffic patterns the touchpoint rules need."""

from __future__ import annotations

import gzip
import json
import time

import numpy as np
import pandas as pd
import pytest

from sandbox.web_events import FORM_SUBMIT_COLUMNS, PAGE_VIEW_COLUMNS, generate_web_events, write_event_files


def make_persons(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2024-03-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 90 * 86_400, n), unit="s")
    emails = pd.Series([f"Person{i}@Acme{i % 17}.com" for i in range(n)], dtype=object)
    emails[::13] = None
    emails[5::29] = "no-at-sign"
    return pd.DataFrame({"email": emails, "createdAt": created})


@pytest.fixture(scope="module")
def generated() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    persons = make_persons(400)
    page_views, form_submits = generate_web_events(persons, n_page_views=30_000, seed=1)
    return persons, page_views, form_submits


def test_shapes_follow_the_raw_contract(generated):
    _, page_views, form_submits = generated
    assert list(page_views.columns) == PAGE_VIEW_COLUMNS
    assert list(form_submits.columns) == FORM_SUBMIT_COLUMNS
    assert len(page_views) == 30_000
    for frame in (page_views, form_submits):
        assert str(frame["event_date"].dt.tz) == "UTC"
        assert frame["id"].is_unique
        assert frame[["id", "cookie_id", "event_date", "current_page_raw"]].notna().all().all()
    assert form_submits["form_identifier"].str.match(r"^/[a-z0-9/-]*#form-\d$").all()


def test_every_channel_arrives(generated):
    _, page_views, _ = generated
    urls = page_views["current_page_raw"]
    refs = page_views["referrer_page_raw"].dropna()
    for medium in ("utm_medium=cpc", "utm_medium=paid_social", "utm_medium=email", "utm_medium=display"):
        assert urls.str.contains(medium, regex=False).sum() > 10, medium
    assert urls.str.contains("utm_source=linkedin&utm_medium=paid_social", regex=False).any()
    assert urls.str.contains("utm_source=facebook&utm_medium=paid_social", regex=False).any()
    ref_hosts = set(refs.str.extract(r"^https?://([^/]+)")[0])
    assert {"www.google.com", "www.bing.com", "duckduckgo.com"} <= ref_hosts
    assert {"www.linkedin.com", "t.co", "www.facebook.com"} <= ref_hosts
    assert {"www.g2.com", "news.ycombinator.com"} <= ref_hosts
    # Direct: a first page (no internal referrer) with no referrer and no UTM tag.
    direct = page_views["referrer_page_raw"].isna() & ~urls.str.contains("utm_", regex=False)
    assert direct.sum() > 100


def test_forms_link_emails_to_cookies_as_the_rules_expect(generated):
    persons, page_views, form_submits = generated
    emails = form_submits["email"].str.strip().str.lower()
    assert (form_submits["email"] != emails).sum() > 0, "some emails typed in mixed case or with spaces"
    assert emails.str.contains("@").all(), "invalid and missing emails are never used"

    links = pd.DataFrame({"email": emails, "cookie_id": form_submits["cookie_id"]}).drop_duplicates()
    emails_per_cookie = links.groupby("cookie_id")["email"].nunique()
    cookies_per_email = links.groupby("email")["cookie_id"].nunique()
    assert (emails_per_cookie == 2).sum() >= 1, "one cookie shared by two persons"
    assert (cookies_per_email >= 2).sum() >= 10, "some persons with several cookies"

    # Most persons' first form is within minutes of createdAt.
    valid = persons.dropna(subset=["email"])
    valid = valid[valid["email"].str.contains("@")]
    created = pd.Series(valid["createdAt"].to_numpy(), index=valid["email"].str.lower())
    first_form = form_submits.assign(email=emails).groupby("email")["event_date"].min()
    gap = (first_form - created.reindex(first_form.index)).abs()
    assert (gap <= pd.Timedelta(minutes=10)).mean() > 0.7

    # Anonymous visits before the first form of a linked cookie.
    first_by_cookie = form_submits.groupby("cookie_id")["event_date"].min()
    linked = page_views[page_views["cookie_id"].isin(first_by_cookie.index)]
    before = linked["event_date"] < linked["cookie_id"].map(first_by_cookie)
    assert before.sum() > 50


def test_session_edges_are_present(generated):
    _, page_views, form_submits = generated
    # Forms with no page view of the same cookie in the same second.
    seconds = set(zip(page_views["cookie_id"], page_views["event_date"].dt.floor("s"), strict=True))
    alone = [
        (c, t) not in seconds
        for c, t in zip(form_submits["cookie_id"], form_submits["event_date"].dt.floor("s"), strict=True)
    ]
    assert sum(alone) > 5
    # Gaps of exactly 30 minutes and of 30 minutes and one second between a cookie's page views.
    ordered = page_views.sort_values(["cookie_id", "event_date"])
    gaps = ordered.groupby("cookie_id")["event_date"].diff().dropna()
    assert (gaps == pd.Timedelta(minutes=30)).sum() >= 1
    assert (gaps == pd.Timedelta(minutes=30, seconds=1)).sum() >= 1
    assert (gaps > pd.Timedelta(hours=1)).sum() > 100, "visitors come back in later sessions"


def test_same_seed_same_events_and_other_seed_other_ids():
    persons = make_persons(50)
    a = generate_web_events(persons, 2_000, seed=3)
    b = generate_web_events(persons, 2_000, seed=3)
    c = generate_web_events(persons, 2_000, seed=4)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    assert not set(a[0]["id"]) & set(c[0]["id"])


def test_too_few_page_views_for_the_persons_is_an_error():
    with pytest.raises(ValueError, match="too small"):
        generate_web_events(make_persons(400), n_page_views=10, seed=0)


def test_one_million_page_views_are_quick():
    persons = make_persons(50_000)
    started = time.perf_counter()
    page_views, form_submits = generate_web_events(persons, n_page_views=1_000_000, seed=2)
    elapsed = time.perf_counter() - started
    assert len(page_views) == 1_000_000 and len(form_submits) > 10_000
    assert elapsed < 20, f"{elapsed:.1f}s for 1M page views"


def test_write_event_files_names_and_records(tmp_path):
    persons = make_persons(30)
    page_views, form_submits = generate_web_events(persons, 1_500, seed=5)
    paths = write_event_files(page_views, form_submits, tmp_path / "daily", fmt="jsonl", gzip=True)
    names = {p.name for p in paths}
    days = page_views["event_date"].dt.strftime("%Y-%m-%d").unique()
    assert {f"page_views_{d}.jsonl.gz" for d in days} <= names
    assert all(n.startswith(("page_views_", "form_submits_")) for n in names)
    with gzip.open(paths[0], "rt") as f:
        record = json.loads(f.readline())
    assert record["event_type"] in ("page_view", "form_submit")
    assert record["event_date"].endswith("Z")

    single = write_event_files(page_views, form_submits, tmp_path / "single", fmt="csv", files_per_day=False)
    assert sorted(p.name for p in single) == ["form_submits.csv", "page_views.csv"]
    assert len(pd.read_csv(tmp_path / "single" / "page_views.csv")) == len(page_views)
    parquet = write_event_files(page_views, form_submits, tmp_path / "pq", fmt="parquet", files_per_day=False)
    assert pd.read_parquet(parquet[0])["event_type"].eq("page_view").all()


def test_no_usable_person_gives_anonymous_traffic_only():
    persons = pd.DataFrame({"email": [None, "not-an-email"], "createdAt": pd.to_datetime(["2024-05-01"] * 2, utc=True)})
    page_views, form_submits = generate_web_events(persons, 500, seed=1, start="2024-01-01", end="2024-02-01")
    assert len(page_views) == 500 and form_submits.empty
    assert (
        page_views["event_date"]
        .between(pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-02-02", tz="UTC"))
        .all()
    )


def test_one_page_view_per_session():
    """The worst case of issue 6: every session is one page view (no page is referred by a page of the site)."""
    persons = pd.DataFrame(
        {
            "email": [f"p{i}@acme{i % 7}.com" for i in range(200)],
            "createdAt": pd.date_range("2026-01-01", periods=200, freq="37min", tz="UTC"),
        }
    )
    page_views, form_submits = generate_web_events(persons, 3_000, seed=3, one_page_view_per_session=True)
    assert len(page_views) == 3_000
    internal = page_views["referrer_page_raw"].fillna("").str.startswith("https://www.example-b2b.com")
    assert not internal.any()
    # a form is submitted on the session's only page: the landing page, with its arrival's query string
    assert len(form_submits) > 0
    usual, _ = generate_web_events(persons, 3_000, seed=3)
    assert usual["referrer_page_raw"].fillna("").str.startswith("https://www.example-b2b.com").mean() > 0.3
