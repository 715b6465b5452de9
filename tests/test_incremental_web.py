"""Incremental web models: batches landed one by one, `dbt build` after each, must give exactly the marts
a `dbt build --full-refresh` gives on the same final data (compared both ways with EXCEPT).

The batches hit the hard cases: a session spanning the previous run's boundary, a late out-of-order event
that merges two sessions (a session id disappears), a late form fill that turns an old anonymous cookie
into a known person, a person whose created_date changes, a person whose email changes to one with no
touchpoints, a cookie shared by two people, and a load dlt has not finished (ignored by both)."""

from __future__ import annotations

from tests.support import query, run_dbt, table_differences
from tests.test_touchpoints_dbt import load_batch

MARTS = [
    "biz_page_views",
    "biz_form_submits",
    "biz_sessions",
    "biz_email_to_visitor_ids",
    "biz_touchpoints",
    "biz_leads",
    "int_sessions_sessionized",
    "int_touchpoints_by_email",
    "int_web_traffic_by_day",
    "rpt_web_traffic_by_day_landing_page_channel",
    "rpt_touchpoints_by_month_channel_segment",
]
# fmt: off
BATCHES = [
    dict(  # day 1
        load_id="1700000001.1",
        page_views=[
            ("a1", "c1", "2026-03-01 23:40:00", "https://acme.com/?utm_source=google&utm_medium=cpc",
             "https://www.google.com/"),
            ("a2", "c1", "2026-03-01 23:55:00", "https://acme.com/pricing", "https://acme.com/"),
            ("b1", "c2", "2026-03-01 12:00:00", "https://acme.com/", "https://www.bing.com/"),
            ("b2", "c2", "2026-03-01 14:00:00", "https://acme.com/docs", None),
            ("e1", "c5", "2026-03-01 09:00:00", "https://acme.com/", None),
        ],
        form_submits=[
            ("e2", "c5", "2026-03-01 09:05:00", "https://acme.com/trial", "eve@x.com"),
            ("z1", "c6", "2026-03-01 10:00:00", "https://acme.com/trial", "zed@x.com"),
        ],
        leads=[
            (1, "jane@acme.com", "2026-03-02 00:20:00", None, None, None),
            (2, "bob@beta.io", "2026-03-03 10:00:00", None, None, None),
            (3, "eve@x.com", "2026-03-01 09:00:00", None, None, None),
            (4, "zed@x.com", "2026-03-01 10:01:00", None, None, None),
        ],
    ),
    dict(  # day 2: c1's session goes on past midnight and the previous run's boundary; Jane fills a form
        load_id="1700000002.1",
        page_views=[
            ("a3", "c1", "2026-03-02 00:10:00", "https://acme.com/features", None),
            ("c1v", "c3", "2026-03-02 08:00:00", "https://acme.com/", "https://www.linkedin.com/"),
            ("b3", "c2", "2026-03-02 09:00:00", "https://acme.com/", None),
        ],
        form_submits=[("a4", "c1", "2026-03-02 00:12:00", "https://acme.com/demo", "Jane@Acme.com")],
    ),
    dict(  # day 3: late events, a late form fill on an old anonymous cookie, changed persons
        load_id="1700000003.1",
        page_views=[
            # c2 12:00 | 13:00 13:30 (late) | 14:00: exactly 30 minutes apart, b2's old session merges away
            ("b5", "c2", "2026-03-01 13:00:00", "https://acme.com/x", None),
            ("b6", "c2", "2026-03-01 13:30:00", "https://acme.com/y", None),
        ],
        form_submits=[("b4", "c2", "2026-03-03 09:59:00", "https://acme.com/contact", "bob@beta.io")],
        leads=[
            (1, "jane@acme.com", "2026-03-01 23:00:00", None, None, None),  # created before any visit now
            (4, "zed@new.com", "2026-03-01 10:01:00", None, None, None),    # email with no touchpoints
        ],
    ),
    dict(  # day 4: c3 shared by Ann and Dan
        load_id="1700000004.1",
        page_views=[("c2v", "c3", "2026-03-04 10:00:00", "https://acme.com/?utm_source=news&utm_medium=email",
                     None)],
        form_submits=[
            ("c3f", "c3", "2026-03-04 10:01:00", "https://acme.com/", "ann@delta.com"),
            ("c4f", "c3", "2026-03-04 10:30:00", "https://acme.com/", "dan@delta.com"),
        ],
        leads=[
            (5, "ann@delta.com", "2026-03-04 10:05:00", None, None, None),
            (6, "dan@delta.com", "2026-03-05 00:00:00", "Contact", "003D", "001D"),
        ],
    ),
    dict(  # a load dlt has not finished: not in _dlt_loads, so no model may read it yet
        load_id="1700000005.1",
        page_views=[("a9", "c1", "2026-03-02 00:20:00", "https://acme.com/late", None)],
        form_submits=[("a8", "c7", "2026-03-05 08:00:00", "https://acme.com/", "jane@acme.com")],
        completed=False,
    ),
]
# fmt: on


def test_incremental_runs_equal_full_refresh(tmp_path):
    incremental = tmp_path / "incremental" / "warehouse.duckdb"
    full = tmp_path / "full" / "warehouse.duckdb"
    incremental.parent.mkdir()
    full.parent.mkdir()

    stamps = []
    for batch in BATCHES:
        load_batch(incremental, **batch)
        load_batch(full, **batch)
        # one project, one target dir: partial parsing keeps the daily runs quick
        run_dbt(["build", "--exclude", "test_type:unit", "--partial-parse"], incremental)
        stamps.append(query(incremental, "select max(_processed_at) from main.biz_sessions")[0][0])
    run_dbt(["build", "--full-refresh", "--exclude", "test_type:unit"], full)

    differences = {mart: d for mart, d in table_differences(incremental, full, MARTS).items() if d != ([], [])}
    assert not differences, f"incremental != full refresh: {differences}"
    for mart in MARTS:
        assert query(incremental, f"select count(*) from main.{mart}")[0][0] > 0, mart

    # the scenario did what it claims ...
    c1_sessions = query(
        incremental,
        "select event_date, page_view_count, form_submit_count, channel from main.biz_sessions where cookie_id = 'c1'",
    )
    assert [(str(s), p, f, c) for s, p, f, c in c1_sessions] == [("2026-03-01 23:40:00", 3, 1, "Paid Search")]
    c2_starts = query(
        incremental,
        "select cast(event_date as varchar) from main.biz_sessions where cookie_id = 'c2' order by 1",
    )
    assert [s for (s,) in c2_starts] == [
        "2026-03-01 12:00:00",
        "2026-03-01 13:00:00",
        "2026-03-02 09:00:00",
        "2026-03-03 09:59:00",
    ]
    touchpoints = query(
        incremental,
        """
        select person_id, cast(touchpoint_date as varchar), marketing_touch_type, is_lead_creation_touch,
               cast(u_shape_percentage as integer)
        from main.biz_touchpoints order by 1, 2""",
    )
    assert touchpoints == [
        # one session across midnight and the run boundary: first touch and form; created before it, no LC
        ("1", "2026-03-02 00:12:00", "Web Form", False, 100),
        ("2", "2026-03-01 12:00:00", "Web Visit", False, 50),  # the old anonymous visit, via the late form
        ("2", "2026-03-03 09:59:00", "Web Form", True, 50),
        ("3", "2026-03-01 09:05:00", "Web Form", True, 100),
        ("5", "2026-03-02 08:00:00", "Web Visit", False, 50),
        ("5", "2026-03-04 10:01:00", "Web Form", True, 50),
        ("6", "2026-03-02 08:00:00", "Web Visit", False, 50),
        ("6", "2026-03-04 10:30:00", "Web Form", True, 50),
    ]
    # ... and the last run was incremental: cookies without new events kept the rows of earlier runs
    kept = query(incremental, "select distinct _processed_at from main.biz_sessions where cookie_id = 'c5'")
    assert kept == [(stamps[0],)]
    # the unfinished load alone gave the last run nothing to rewrite
    assert stamps[-1] == stamps[-2]
