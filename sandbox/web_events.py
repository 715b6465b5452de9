"""Synthetic web tracking events for the demo, tests and benchmarks: page views and form submits in the
raw contract of `raw_web` (SPEC.md), generated with vectorized numpy so 10M page views take seconds.

The traffic is shaped to exercise the touchpoint rules:
- visitors (cookies) with several sessions; a session is a landing page plus a few pages seconds to
  minutes apart (never 30 minutes apart inside one session);
- arrivals by paid search, paid social, email, display (UTM-tagged landing URLs), organic search, social
  and web-referral referrers, and direct visits;
- some sessions follow the previous one of the same cookie by exactly 30 minutes or 30 minutes and one
  second, arriving direct, to test the inactivity boundary;
- each person with a valid email fills a form (`form_identifier` like `/contact-us#form-1`), for most of
  them close to `createdAt`; the captured email is sometimes in mixed case or padded with spaces;
- anonymous sessions before the first form; later visits, some with further forms;
- some persons use several cookies (each linked by a form); one cookie is shared by two persons;
- some form submits come seconds after the last page view, so no page view shares their second;
- anonymous visitors who never fill a form make up the rest of the traffic.

Usage:
    page_views, form_submits = generate_web_events(persons, n_page_views=100_000, seed=1)
    write_event_files(page_views, form_submits, "sandbox_out/web", fmt="jsonl", gzip=True)
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

PAGE_VIEW_COLUMNS = [
    "id",
    "cookie_id",
    "event_date",
    "current_page_raw",
    "referrer_page_raw",
    "page_title",
    "ip_address",
    "user_agent_string",
]
FORM_SUBMIT_COLUMNS = [
    "id",
    "cookie_id",
    "event_date",
    "current_page_raw",
    "email",
    "form_identifier",
    "ip_address",
    "user_agent_string",
]

PAGES: list[tuple[str, str]] = [
    ("/", "Example B2B | Revenue attribution for B2B teams"),
    ("/product", "Product | Example B2B"),
    ("/product/features", "Features | Example B2B"),
    ("/pricing", "Pricing | Example B2B"),
    ("/customers", "Customer stories | Example B2B"),
    ("/blog/attribution-101", "Attribution 101 | Example B2B blog"),
    ("/blog/u-shape-vs-w-shape", "U-shape vs W-shape | Example B2B blog"),
    ("/resources/ebook-b2b-funnel", "Ebook: the B2B funnel | Example B2B"),
    ("/about", "About us | Example B2B"),
    ("/careers", "Careers | Example B2B"),
    ("/contact-us", "Contact us | Example B2B"),
    ("/demo", "Request a demo | Example B2B"),
]
# Pages that hold a form, as indexes into PAGES, and the form on each.
FORM_PAGES = np.array([10, 11, 7])
FORM_IDS = ["/contact-us#form-1", "/demo#form-1", "/resources/ebook-b2b-funnel#form-2"]
LANDING_PAGES = np.array([0, 1, 3, 5, 6, 7, 11])

CHANNELS = ["paid_search", "paid_social", "email", "display", "organic", "social", "referral", "direct"]
CHANNEL_SHARE = np.array([0.15, 0.07, 0.08, 0.04, 0.25, 0.08, 0.08, 0.25])
DIRECT = CHANNELS.index("direct")

# (query string, referrer) options per channel; None = no referrer / no query string.
ARRIVALS: dict[str, list[tuple[str | None, str | None]]] = {
    "paid_search": [
        (
            "utm_source=google&utm_medium=cpc&utm_campaign=brand-search&utm_term=b2b%20attribution&gclid=Cj0KCQ1",
            "https://www.google.com/",
        ),
        (
            "utm_source=google&utm_medium=cpc&utm_campaign=competitor-search&utm_term=bizible%20alternative",
            "https://www.google.com/",
        ),
        (
            "utm_source=bing&utm_medium=cpc&utm_campaign=brand-search&utm_term=attribution%20software",
            "https://www.bing.com/",
        ),
        ("utm_source=google&utm_medium=ppc&utm_campaign=generic-search&utm_content=ad-2", None),
    ],
    "paid_social": [
        (
            "utm_source=linkedin&utm_medium=paid_social&utm_campaign=abm-q2&utm_content=carousel",
            "https://www.linkedin.com/",
        ),
        ("utm_source=facebook&utm_medium=paid_social&utm_campaign=retargeting", "https://www.facebook.com/"),
        ("utm_source=linkedin&utm_medium=cpc&utm_campaign=sponsored-content", "https://www.linkedin.com/"),
    ],
    "email": [
        ("utm_source=marketo&utm_medium=email&utm_campaign=newsletter-monthly", None),
        ("utm_source=marketo&utm_medium=email&utm_campaign=webinar-invite&utm_content=cta-top", None),
    ],
    "display": [
        ("utm_source=doubleclick&utm_medium=display&utm_campaign=awareness&utm_content=300x250", None),
        ("utm_source=adroll&utm_medium=display&utm_campaign=retargeting", "https://www.nytimes.com/"),
    ],
    "organic": [
        (None, "https://www.google.com/"),
        (None, "https://www.bing.com/"),
        (None, "https://duckduckgo.com/"),
        (None, "https://www.google.co.uk/"),
    ],
    "social": [
        (None, "https://www.linkedin.com/feed/"),
        (None, "https://t.co/x7Yb2kQ"),
        (None, "https://twitter.com/examplecorp/status/1"),
        (None, "https://www.facebook.com/"),
    ],
    "referral": [
        (None, "https://www.g2.com/products/example-b2b/reviews"),
        (None, "https://news.ycombinator.com/item?id=1"),
        (None, "https://partner-agency.io/blog/attribution-stack"),
        (None, "https://www.capterra.com/p/1/example-b2b/"),
    ],
    "direct": [(None, None)],
}

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 "
    "Safari/537.36 Edg/124.0",
]

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
SESSION_TIMEOUT = 30 * MINUTE


def generate_web_events(
    persons: pd.DataFrame,
    n_page_views: int,
    seed: int = 0,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    site: str = "https://www.example-b2b.com",
    one_page_view_per_session: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(page_views, form_submits) in the raw-contract columns, `event_date` tz-aware UTC.

    persons: columns `email` (null or without `@` = skipped) and `createdAt` (tz-aware UTC).
    n_page_views: exact number of page views; about 60% go to persons' visitors, the rest to anonymous
    traffic. Raises ValueError when it cannot hold one page view per form session of the persons.
    start, end: window of the anonymous traffic (default: the persons' createdAt range, padded by 60 days).
    Ids embed the seed, so batches generated with different seeds never collide.
    one_page_view_per_session: every generated session holds exactly one page view (the landing page; a
    form session's form is on it), so n_page_views page views make about n_page_views sessions: the worst
    case for sessionization and the session marts (issue 6). Two such visits of one cookie less than 30
    minutes apart, the second arriving direct, still make one session by the rules.
    """
    rng = np.random.default_rng(seed)
    emails, created = _valid_persons(persons)
    window_start, window_end = _window(created, start, end)
    n_persons = len(emails)

    # Which persons fill a form, and when the first one happens: near createdAt for most of them.
    kind = rng.choice(3, size=n_persons, p=[0.82, 0.10, 0.08])  # 0 near createdAt, 1 anywhere, 2 never
    has_created = created != np.iinfo(np.int64).min
    kind = np.where(~has_created & (kind == 0), 1, kind)
    first_form = np.where(
        kind == 0,
        created - rng.integers(0, 8 * MINUTE, n_persons) + rng.integers(0, 2 * MINUTE, n_persons),
        rng.integers(window_start, window_end, n_persons),
    )
    formers = np.flatnonzero(kind != 2)
    n_formers = len(formers)

    # Cookies per form-filling person: mostly one, some two or three (each extra one linked by a form).
    n_cookies = 1 + rng.choice(3, size=n_formers, p=[0.82, 0.14, 0.04])
    cookie_base = np.cumsum(n_cookies) - n_cookies
    n_person_cookies = int(n_cookies.sum())

    # Session budget: ~60% of page views for persons' visitors, ~3 pages per session (or exactly one).
    pages_per_session = 1.0 if one_page_view_per_session else 3.0
    extra_cookie_owner = np.repeat(np.arange(n_formers), n_cookies - 1)
    base_sessions = n_formers + len(extra_cookie_owner)
    extra_rate = max(0.0, (0.6 * n_page_views / pages_per_session - base_sessions) / max(n_formers, 1))
    extra_rate = min(extra_rate, 8.0)
    n_before = rng.poisson(0.4 * extra_rate, n_formers)
    n_after = rng.poisson(0.6 * extra_rate, n_formers)

    sessions = []
    # First form session, on the person's first cookie.
    sessions.append(
        _SessionSpec(
            cookie=cookie_base,
            start=first_form[formers] - rng.integers(30_000, 10 * MINUTE, n_formers),
            form_person=formers,
            ends_at=first_form[formers],
        )
    )
    # Anonymous visits before the first form, same cookie.
    owner_b = np.repeat(np.arange(n_formers), n_before)
    sessions.append(
        _SessionSpec(
            cookie=cookie_base[owner_b],
            start=first_form[formers[owner_b]] - rng.integers(HOUR, 60 * DAY, len(owner_b)),
            form_person=np.full(len(owner_b), -1),
        )
    )
    # Later visits on any of the person's cookies; a quarter of them with another form.
    owner_a = np.repeat(np.arange(n_formers), n_after)
    again = rng.random(len(owner_a)) < 0.25
    sessions.append(
        _SessionSpec(
            cookie=cookie_base[owner_a] + (rng.random(len(owner_a)) * n_cookies[owner_a]).astype(np.int64),
            start=first_form[formers[owner_a]] + rng.integers(HOUR, 120 * DAY, len(owner_a)),
            form_person=np.where(again, formers[owner_a], -1),
        )
    )
    # Each extra cookie is linked to its person by a form of its own (a phone, a home laptop).
    extra_cookie = _extra_cookie_ids(cookie_base, n_cookies)
    sessions.append(
        _SessionSpec(
            cookie=extra_cookie,
            start=first_form[formers[extra_cookie_owner]] + rng.integers(DAY, 90 * DAY, len(extra_cookie_owner)),
            form_person=formers[extra_cookie_owner],
        )
    )
    known = _SessionSpec.concat(sessions)

    # Shared cookie: the second form-filling person fills a form on the first one's cookie (an office PC).
    if n_formers >= 2:
        known = _SessionSpec.concat(
            [
                known,
                _SessionSpec(
                    cookie=cookie_base[0:1],
                    start=first_form[formers[0:1]] + 2 * DAY,
                    form_person=formers[1:2],
                ),
            ]
        )

    pages_known = rng.geometric(1 / 3.0, len(known.cookie))
    if one_page_view_per_session or pages_known.sum() > n_page_views:
        pages_known = np.ones(len(known.cookie), dtype=np.int64)
    if pages_known.sum() > n_page_views:
        raise ValueError(
            f"n_page_views={n_page_views} is too small for {n_formers} form-filling persons: "
            f"need at least {pages_known.sum()} (one page view per form session)"
        )

    # Anonymous traffic fills the rest exactly; about 1.8 sessions per anonymous cookie.
    remaining = n_page_views - int(pages_known.sum())
    if one_page_view_per_session:
        pages_anon = np.ones(max(remaining, 0), dtype=np.int64)
    else:
        pages_anon = _pages_summing_to(rng, remaining, mean=2.5)
    n_anon_sessions = len(pages_anon)
    n_anon_cookies = max(1, int(n_anon_sessions / 1.8))
    anon = _SessionSpec(
        cookie=n_person_cookies + rng.integers(0, n_anon_cookies, n_anon_sessions),
        start=rng.integers(window_start, window_end, n_anon_sessions),
        form_person=np.full(n_anon_sessions, -1),
    )
    everything = _SessionSpec.concat([known, anon])
    n_pages = np.concatenate([pages_known, pages_anon]).astype(np.int64)
    n_cookies_total = n_person_cookies + n_anon_cookies

    return _materialize(rng, everything, n_pages, n_cookies_total, emails, seed, site)


class _SessionSpec:
    """Columns of sessions before they are expanded into page views (one entry per session)."""

    def __init__(
        self,
        cookie: np.ndarray,
        start: np.ndarray,
        form_person: np.ndarray,
        ends_at: np.ndarray | None = None,
    ) -> None:
        self.cookie = np.asarray(cookie, dtype=np.int64)
        self.start = np.asarray(start, dtype=np.int64)
        self.form_person = np.asarray(form_person, dtype=np.int64)
        # The first form should land at ends_at (near createdAt); -1 = no constraint.
        self.ends_at = np.asarray(ends_at if ends_at is not None else np.full(len(self.cookie), -1), dtype=np.int64)

    @staticmethod
    def concat(parts: list[_SessionSpec]) -> _SessionSpec:
        return _SessionSpec(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in ("cookie", "start", "form_person", "ends_at"))
        )


def _extra_cookie_ids(cookie_base: np.ndarray, n_cookies: np.ndarray) -> np.ndarray:
    """The ids of every cookie but the first of each person, in person order."""
    extra = n_cookies - 1
    if extra.sum() == 0:
        return np.array([], dtype=np.int64)
    first = np.repeat(cookie_base, extra)
    offset = np.arange(extra.sum()) - np.repeat(np.cumsum(extra) - extra, extra)
    return first + 1 + offset


def _pages_summing_to(rng: np.random.Generator, total: int, mean: float) -> np.ndarray:
    if total <= 0:
        return np.array([], dtype=np.int64)
    pages = rng.geometric(1 / mean, int(total / mean * 1.2) + 16)
    cut = np.cumsum(pages)
    n = int(np.searchsorted(cut, total)) + 1
    while n > len(pages):
        pages = np.concatenate([pages, rng.geometric(1 / mean, len(pages))])
        cut = np.cumsum(pages)
        n = int(np.searchsorted(cut, total)) + 1
    pages = pages[:n].copy()
    pages[-1] -= int(cut[n - 1]) - total
    return pages


def _valid_persons(persons: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(emails, createdAt as epoch ms; int64 min when missing) of persons whose email can be matched."""
    email = persons["email"]
    ok = email.notna() & email.astype("string").str.contains("@", regex=False).fillna(False)
    valid = persons.loc[ok.to_numpy(dtype=bool)]
    created = pd.to_datetime(valid["createdAt"], utc=True)
    ms = created.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ms]").astype(np.int64)
    return valid["email"].astype(object).to_numpy(), ms


def _window(created: np.ndarray, start: pd.Timestamp | str | None, end: pd.Timestamp | str | None) -> tuple[int, int]:
    known = created[created != np.iinfo(np.int64).min]
    lo = int(known.min()) - 60 * DAY if len(known) else _ms(pd.Timestamp("2024-01-01", tz="UTC"))
    hi = int(known.max()) + 60 * DAY if len(known) else _ms(pd.Timestamp("2025-01-01", tz="UTC"))
    lo = _ms(pd.Timestamp(start)) if start is not None else lo
    hi = _ms(pd.Timestamp(end)) if end is not None else hi
    if hi <= lo:
        raise ValueError(f"end ({end}) must be after start ({start})")
    return lo, hi


def _ms(ts: pd.Timestamp) -> int:
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000)


def _materialize(
    rng: np.random.Generator,
    s: _SessionSpec,
    n_pages: np.ndarray,
    n_cookies: int,
    emails: np.ndarray,
    seed: int,
    site: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    n_sessions = len(s.cookie)
    channel = rng.choice(len(CHANNELS), size=n_sessions, p=CHANNEL_SHARE)
    has_form = s.form_person >= 0

    # Page gaps: mostly seconds to a minute or two, sometimes up to 25 minutes, never 30 within a session.
    total = int(n_pages.sum())
    session_of_page = np.repeat(np.arange(n_sessions), n_pages)
    first_page = np.cumsum(n_pages) - n_pages
    gap_kind = rng.choice(3, size=total, p=[0.7, 0.25, 0.05])
    gap = np.select(
        [gap_kind == 0, gap_kind == 1],
        [rng.integers(4_000, 90_000, total), rng.integers(90_000, 10 * MINUTE, total)],
        rng.integers(10 * MINUTE, 25 * MINUTE, total),
    )
    gap[first_page] = 0
    elapsed = np.cumsum(gap)
    elapsed -= elapsed[first_page][session_of_page]
    duration = elapsed[first_page + n_pages - 1]

    # A first form session ends on its form at ends_at: shift its start accordingly.
    start = np.where(s.ends_at >= 0, s.ends_at - duration, s.start)

    # Boundary cases: a few later sessions of a cookie start exactly 30 min, or 30 min + 1 s, after the
    # previous session of that cookie ended, arriving direct (so only the inactivity rule can cut).
    order = np.lexsort((start, s.cookie))
    same_cookie = np.zeros(n_sessions, dtype=bool)
    same_cookie[order[1:]] = s.cookie[order[1:]] == s.cookie[order[:-1]]
    prev = np.full(n_sessions, -1)
    prev[order[1:]] = order[:-1]
    prev_end = np.where(prev >= 0, start[prev] + duration[prev], 0)
    eligible = same_cookie & (s.ends_at < 0) & (start - prev_end > 2 * HOUR)
    pick = eligible & (rng.random(n_sessions) < 0.04)
    # Shift only sessions whose predecessor stays put, so prev_end above remains true.
    pick &= ~(pick[prev] & (prev >= 0))
    start = np.where(pick, prev_end + SESSION_TIMEOUT + np.where(rng.random(n_sessions) < 0.5, 0, 1000), start)
    channel = np.where(pick, DIRECT, channel)

    # Landing page and arrival (query string, referrer) per session.
    arrival_offsets = np.cumsum([0] + [len(ARRIVALS[c]) for c in CHANNELS])
    arrival_counts = np.diff(arrival_offsets)
    arrival = arrival_offsets[channel] + (rng.random(n_sessions) * arrival_counts[channel]).astype(np.int64)
    arrivals = [a for c in CHANNELS for a in ARRIVALS[c]]
    landing_page = LANDING_PAGES[rng.integers(0, len(LANDING_PAGES), n_sessions)]
    landing_url, landing_ref = _landing_vocabulary(site, arrivals)
    landing_code = landing_page * len(arrivals) + arrival

    # Pages: the first is the landing page; a form session ends on a form page.
    page = rng.integers(0, len(PAGES), total)
    page[first_page] = landing_page
    form_slot = rng.integers(0, len(FORM_PAGES), n_sessions)
    last_page = first_page + n_pages - 1
    page[last_page[has_form]] = FORM_PAGES[form_slot[has_form]]
    # Strings are built once per distinct value and gathered by index with Arrow (a Python object per
    # event would dominate the run time). URL vocabulary: the plain pages, then every landing URL.
    n_arrivals = len(arrivals)
    url_vocab = pa.array([site + p for p, _ in PAGES] + list(landing_url), pa.string())
    url_code = page.copy()
    url_code[first_page] = len(PAGES) + landing_code
    single_form = np.flatnonzero(has_form & (n_pages == 1))
    # A one-page form session lands on the form page itself, keeping its arrival's query string.
    url_code[last_page[single_form]] = (
        len(PAGES) + FORM_PAGES[form_slot[single_form]] * n_arrivals + arrival[single_form]
    )
    # Referrer vocabulary: each arrival's referrer (null for none), then the URL vocabulary (the page before).
    ref_vocab = pa.concat_arrays([pa.array(list(landing_ref), pa.string()), url_vocab])
    ref_code = np.empty(total, dtype=np.int64)
    ref_code[1:] = n_arrivals + url_code[:-1]
    ref_code[first_page] = arrival

    times = start[session_of_page] + elapsed
    ips = _ip_pool(rng, 50_000)
    agents = pa.array(USER_AGENTS, pa.string())
    cookie_ip = rng.integers(0, len(ips), n_cookies)
    cookie_ua = rng.integers(0, len(agents), n_cookies)
    cookie_names = _cookie_names(rng, n_cookies)
    titles = pa.array([t for _, t in PAGES], pa.string())

    order = np.argsort(times, kind="stable")
    page_cookie = s.cookie[session_of_page][order]
    page_views = pa.table(
        {
            "id": _ids("pv", seed, total),
            "cookie_id": cookie_names.take(page_cookie),
            "event_date": pa.array(times[order], pa.timestamp("ms", tz="UTC")),
            "current_page_raw": url_vocab.take(url_code[order]),
            "referrer_page_raw": ref_vocab.take(ref_code[order]),
            "page_title": titles.take(page[order]),
            "ip_address": ips.take(cookie_ip[page_cookie]),
            "user_agent_string": agents.take(cookie_ua[page_cookie]),
        }
    )

    # Form submits: on the session's last page; 70% in the same second as that page view, the rest
    # 5 s to 2 min later (no page view in their second).
    f_sessions = np.flatnonzero(has_form)
    f_page = last_page[f_sessions]
    late = rng.random(len(f_sessions)) < 0.3
    f_times = (times[f_page] // 1000) * 1000 + np.where(
        late, rng.integers(5_000, 120_000, len(f_sessions)), rng.integers(0, 1000, len(f_sessions))
    )
    f_times = np.maximum(f_times, times[f_page])
    f_order = np.argsort(f_times, kind="stable")
    f_sessions, f_page, f_times = f_sessions[f_order], f_page[f_order], f_times[f_order]
    f_cookie = s.cookie[f_sessions]
    form_submits = pa.table(
        {
            "id": _ids("fs", seed, len(f_sessions)),
            "cookie_id": cookie_names.take(f_cookie),
            "event_date": pa.array(f_times, pa.timestamp("ms", tz="UTC")),
            "current_page_raw": url_vocab.take(url_code[f_page]),
            "email": pa.array(_messy_emails(rng, emails[s.form_person[f_sessions]]), pa.string()),
            "form_identifier": pa.array(FORM_IDS, pa.string()).take(form_slot[f_sessions]),
            "ip_address": ips.take(cookie_ip[f_cookie]),
            "user_agent_string": agents.take(cookie_ua[f_cookie]),
        }
    )
    return _to_frame(page_views), _to_frame(form_submits)


def _to_frame(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas()
    frame["event_date"] = frame["event_date"].dt.tz_convert("UTC")
    return frame


def _landing_vocabulary(site: str, arrivals: list[tuple[str | None, str | None]]) -> tuple[list[str], list]:
    """All landing URLs (page x arrival, page-major) and the referrer of each arrival."""
    urls = [site + path + (f"?{query}" if query else "") for path, _ in PAGES for query, _ in arrivals]
    refs = [ref for _, ref in arrivals]
    return urls, refs


def _ids(prefix: str, seed: int, n: int) -> pa.Array:
    """`pv-<seed>-<n>` in time order: unique within a batch and across batches of different seeds."""
    numbers = pa.array(np.arange(n, dtype=np.int64)).cast(pa.string())
    return pc.binary_join_element_wise(f"{prefix}-{seed}-", numbers, "")


def _cookie_names(rng: np.random.Generator, n: int) -> pa.Array:
    """Opaque, unique cookie ids (as a tracker's would be): random 63-bit numbers, de-duplicated."""
    values = np.unique(rng.integers(10**17, 2**62, int(n * 1.01) + 8))
    values = rng.permutation(values)[:n]
    while len(values) < n:
        values = np.unique(np.concatenate([values, rng.integers(10**17, 2**62, n)]))[:n]
    return pa.array(values).cast(pa.string())


def _ip_pool(rng: np.random.Generator, n: int) -> pa.Array:
    octets = [pa.array(rng.integers(1, 255, n)).cast(pa.string()) for _ in range(4)]
    return pc.binary_join_element_wise(*octets, ".")


def _messy_emails(rng: np.random.Generator, emails: np.ndarray) -> np.ndarray:
    """Emails as people type them: mostly as-is, some upper-cased or capitalized, some with spaces."""
    series = pd.Series(emails, dtype=object)
    roll = rng.random(len(series))
    out = series.copy()
    upper = roll < 0.06
    title = (roll >= 0.06) & (roll < 0.12)
    spaced = (roll >= 0.12) & (roll < 0.18)
    out[upper] = series[upper].str.upper()
    out[title] = series[title].str.capitalize()
    out[spaced] = "  " + series[spaced] + " "
    return out.to_numpy(dtype=object)


def next_day_of_events(
    page_views: pd.DataFrame, form_submits: pd.DataFrame, fraction: float = 0.01, seed: int = 7
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One more day of traffic: `fraction` of the events again (returning visitors), with new ids and times
    spread over the 24 hours after the last event so far; what a daily run loads (bench, tests)."""
    rng = np.random.default_rng(seed)
    last = max(page_views["event_date"].max(), form_submits["event_date"].max())
    day = []
    for frame, prefix in ((page_views, f"pv-next-{seed}-"), (form_submits, f"fs-next-{seed}-")):
        sample = frame.sample(frac=fraction, random_state=seed).copy()
        sample["id"] = [f"{prefix}{i}" for i in range(len(sample))]
        offsets = np.sort(rng.integers(1, 86_400_000, len(sample)))
        sample["event_date"] = last + pd.to_timedelta(offsets, unit="ms")
        day.append(sample)
    return day[0], day[1]


def happened_by(
    page_views: pd.DataFrame, form_submits: pd.DataFrame, when: pd.Timestamp | datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The events dated at or before `when`: persons' later visits are generated past `end`, and a tracker
    only sends what happened (the web loader quarantines events dated after the load)."""
    when = pd.Timestamp(when)
    return page_views[page_views["event_date"] <= when], form_submits[form_submits["event_date"] <= when]


def write_event_files(
    page_views: pd.DataFrame,
    form_submits: pd.DataFrame,
    folder: str | Path,
    fmt: Literal["jsonl", "csv", "parquet"] = "jsonl",
    gzip: bool = False,
    files_per_day: bool = True,
) -> list[Path]:
    """Write `page_views_YYYY-MM-DD.<ext>` / `form_submits_YYYY-MM-DD.<ext>` (UTC days) into `folder`, or
    one `page_views.<ext>` / `form_submits.<ext>` when files_per_day is false. Each record carries
    `event_type` too. JSONL and CSV write event_date as ISO 8601 with milliseconds and `Z`; Parquet as a
    UTC timestamp. gzip applies to JSONL and CSV (`.gz` suffix); Parquet is compressed internally.
    """
    if fmt not in ("jsonl", "csv", "parquet"):
        raise ValueError(f"fmt must be jsonl, csv or parquet, not {fmt!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ext = fmt + (".gz" if gzip and fmt != "parquet" else "")
    written: list[Path] = []
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        for name, frame, event_type in (
            ("page_views", page_views, "page_view"),
            ("form_submits", form_submits, "form_submit"),
        ):
            table = _event_table(frame, event_type)
            for label, part in _split_by_day(table, files_per_day):
                path = folder / (f"{name}_{label}.{ext}" if label else f"{name}.{ext}")
                _copy(con, part, path, fmt, gzip)
                written.append(path)
    return written


def _event_table(frame: pd.DataFrame, event_type: str) -> pa.Table:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    dates = table.column("event_date").cast(pa.timestamp("ms", tz="UTC"))
    table = table.set_column(table.schema.get_field_index("event_date"), "event_date", dates)
    return table.append_column("event_type", pa.repeat(pa.scalar(event_type), table.num_rows))


def _split_by_day(table: pa.Table, files_per_day: bool) -> list[tuple[str | None, pa.Table]]:
    if not files_per_day or table.num_rows == 0:
        return [(None, table)]
    table = table.sort_by("event_date")
    days = table.column("event_date").cast(pa.int64()).to_numpy() // DAY
    cuts = np.flatnonzero(np.diff(days)) + 1
    bounds = np.concatenate(([0], cuts, [table.num_rows]))
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        label = str(np.datetime64(int(days[lo]), "D"))
        parts.append((label, table.slice(int(lo), int(hi - lo))))
    return parts


def _copy(con: duckdb.DuckDBPyConnection, part: pa.Table, path: Path, fmt: str, gzip: bool) -> None:
    con.register("part", part)
    try:
        if fmt == "parquet":
            con.execute(f"copy (select * from part) to '{path}' (format parquet)")
            return
        columns = ", ".join(
            "strftime(event_date, '%Y-%m-%dT%H:%M:%S.%gZ') as event_date" if f.name == "event_date" else f'"{f.name}"'
            for f in part.schema
        )
        options = "format json" if fmt == "jsonl" else "format csv, header true"
        options += ", compression gzip" if gzip else ", compression none"
        con.execute(f"copy (select {columns} from part) to '{path}' ({options})")
    finally:
        con.unregister("part")
