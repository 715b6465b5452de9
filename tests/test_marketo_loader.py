"""The real Marketo loader against the Marketo emulator (real HTTP on 127.0.0.1), into a real DuckDB file.

Every test asserts on what landed: each person exactly once with its latest values, deletes, quarantine,
and the loader's saved state.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import dlt
import duckdb
import pandas as pd
import pytest

from loaders.__main__ import main
from sandbox.marketo import MarketoEmulator
from sandbox.people import generate_leads
from tests.support import REPO

# recent dates, so the rolling window (90 days in these tests) covers them: three 31-day windows
START = (datetime.now(UTC) - timedelta(days=80)).replace(hour=0, minute=0, second=0, microsecond=0)
END = START + timedelta(days=78)
COMPARED = [
    "id",
    "email",
    "company",
    "website",
    "lead_status",
    "sfdc_type",
    "sfdc_lead_id",
    "sfdc_contact_id",
    "sfdc_account_id",
    "created_at",
    "updated_at",
]


@pytest.fixture
def leads() -> pd.DataFrame:
    return generate_leads(240, seed=7, start=START, end=END)


def point_loader_at(emulator: MarketoEmulator, monkeypatch: pytest.MonkeyPatch, **settings: str) -> None:
    """The loader's settings for a test against `emulator`; `settings` (e.g. POLL_INTERVAL_SECONDS) win."""
    defaults = {
        "BASE_URL": emulator.base_url,
        "CLIENT_ID": "sandbox-client",
        "CLIENT_SECRET": "sandbox-secret",
        "START_DATE": START.isoformat(),
        "POLL_INTERVAL_SECONDS": "0.01",
        "BACKOFF_BASE_SECONDS": "0.01",
        "COMPANY_REFRESH_DAYS": "-1",
        "JOB_TIMEOUT_SECONDS": "20",
        "ROLLING_WINDOW_DAYS": "90",
    }
    for key, value in {**defaults, **settings}.items():
        monkeypatch.setenv(f"SOURCES__MARKETO__{key}", value)


@pytest.fixture
def emu(leads, tmp_path, monkeypatch):
    with MarketoEmulator(leads, workdir=tmp_path / "emu", status_update_seconds=0) as emulator:
        point_loader_at(emulator, monkeypatch)
        yield emulator


def load(*args: str) -> int:
    return main(["marketo", *args])


def landed(warehouse, table: str = "leads") -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(f"select * from raw_marketo.{table}").df()


def expected_rows(emulator_leads: pd.DataFrame) -> pd.DataFrame:
    df = emulator_leads.rename(
        columns={
            "leadStatus": "lead_status",
            "sfdcType": "sfdc_type",
            "sfdcLeadId": "sfdc_lead_id",
            "sfdcContactId": "sfdc_contact_id",
            "sfdcAccountId": "sfdc_account_id",
            "createdAt": "created_at",
            "updatedAt": "updated_at",
        }
    )
    return df[COMPARED]


def assert_same_persons(warehouse, expected: pd.DataFrame) -> None:
    """Both ways: every expected person landed with these values, and nothing else landed."""
    actual = landed(warehouse)
    assert actual["id"].is_unique, "a person landed twice"
    a = actual[COMPARED].copy()
    e = expected[COMPARED].copy()
    for frame in (a, e):
        frame["id"] = frame["id"].astype("int64")
        for col in ("created_at", "updated_at"):
            frame[col] = pd.to_datetime(frame[col], utc=True).dt.floor("s")
    merged = e.merge(a, on=COMPARED, how="outer", indicator=True)
    diff = merged[merged["_merge"] != "both"]
    assert diff.empty, f"landed data differs from the source:\n{diff.head(10).to_string()}"


def test_full_load_then_nothing_new(emu, leads, warehouse, capsys):
    assert load() == 0
    assert_same_persons(warehouse, expected_rows(leads))
    out = capsys.readouterr()
    assert "240 person rows" in out.out
    assert "sandbox-secret" not in out.out + out.err
    assert emu.stats.query_param_tokens == 0
    assert emu.stats.max_processing_jobs <= 2
    assert emu.stats.max_in_flight <= 10

    before_leads = landed(warehouse)
    assert load() == 0
    after_leads = landed(warehouse)
    cols = [c for c in before_leads.columns if not c.startswith("_dlt")]
    pd.testing.assert_frame_equal(
        before_leads[cols].sort_values("id").reset_index(drop=True),
        after_leads[cols].sort_values("id").reset_index(drop=True),
    )
    # loaded packages keep their metadata, not their data files (a daily run would pile them up)
    packages = list((warehouse.parent / "pipelines").glob("*/load/loaded/*"))
    assert packages
    assert [f.name for p in packages for f in p.glob("completed_jobs/*")] == []


def test_updates_and_new_deletes_arrive_on_the_next_run(emu, leads, warehouse):
    assert load() == 0
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    changed = leads.head(3).copy()
    changed["company"] = ["Renamed One", "Renamed Two", "Renamed Three"]
    changed["updatedAt"] = now
    emu.upsert_leads(changed)
    emu.delete_leads([int(leads["id"].iloc[-1])])
    assert load() == 0
    expected = leads.set_index("id")
    expected.update(changed.set_index("id"))
    # the deleted person stays landed (B12: kept and flagged), its delete activity lands beside it
    assert_same_persons(warehouse, expected_rows(expected.reset_index()))
    assert list(landed(warehouse, "deleted_leads")["lead_id"]) == [int(leads["id"].iloc[-1])]


def test_person_on_a_window_boundary_lands_once_with_latest_values(emu, leads, warehouse):
    boundary = START + timedelta(days=31)  # end of window 1 == start of window 2, both inclusive
    moved = leads.head(5).copy()
    moved["createdAt"] = START
    moved["updatedAt"] = boundary
    emu.upsert_leads(moved)
    assert load() == 0
    expected = leads.set_index("id")
    expected.update(moved.set_index("id"))
    assert_same_persons(warehouse, expected_rows(expected.reset_index()))
    assert any(f["updatedAt"]["endAt"] == boundary.strftime("%Y-%m-%dT%H:%M:%SZ") for f in emu.stats.export_filters)


def test_commit_left_pending_is_loaded_before_the_next_runs_rows(emu, leads, warehouse, monkeypatch):
    """A run that stops between a commit's extract and its load (warehouse down, killed) leaves a dlt load
    package pending; the next run loads it first and still lands its own rows."""
    assert load() == 0
    now = datetime.now(UTC).replace(microsecond=0)
    first = leads.head(2).copy()
    first["company"], first["updatedAt"] = ["Pending One", "Pending Two"], now - timedelta(minutes=5)
    emu.upsert_leads(first)

    def warehouse_down(self, *args, **kwargs):
        raise RuntimeError("warehouse unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(dlt.Pipeline, "load", warehouse_down)
        with pytest.raises(RuntimeError, match="warehouse unavailable"):
            load()
    second = leads.iloc[2:4].copy()
    second["company"], second["updatedAt"] = ["Later One", "Later Two"], now - timedelta(minutes=2)
    emu.upsert_leads(second)
    assert load() == 0
    expected = leads.set_index("id")
    expected.update(pd.concat([first, second]).set_index("id"))
    assert_same_persons(warehouse, expected_rows(expected.reset_index()))


def test_first_file_into_the_empty_table_is_inserted_once(emu, leads, warehouse, monkeypatch):
    """The first import's first file skips the merge's delete and dedup pass (insert-only: persons whose id
    the table does not hold), so a load job that dlt retries after a kill cannot land it twice."""
    monkeypatch.setenv("SOURCES__MARKETO__START_DATE", (END - timedelta(days=20)).isoformat())
    assert load() == 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        schema = con.execute("select schema from raw_marketo._dlt_version order by version desc limit 1").fetchone()[0]
    assert '"x-merge-strategy":"insert-only"' in schema.replace(" ", "")
    landed_now = landed(warehouse)
    assert len(landed_now) == landed_now["id"].nunique() == (leads["updatedAt"] >= END - timedelta(days=20)).sum()


def test_person_listed_twice_in_the_first_file_lands_once_with_its_latest_row(emu, leads, warehouse):
    """The first file goes into the empty table insert-only: a person the file lists twice still lands once,
    with the later row, and an earlier repeat does not replace the newer row."""
    in_first_window = leads[leads["updatedAt"] < START + timedelta(days=30)].head(2)
    newer, older = in_first_window.iloc[[0]].copy(), in_first_window.iloc[[1]].copy()
    newer["company"], newer["updatedAt"] = "Newer Row", newer["updatedAt"] + timedelta(seconds=1)
    older["company"], older["updatedAt"] = "Older Row", older["updatedAt"] - timedelta(days=1)
    emu.repeat_in_next_export = pd.concat([newer, older])
    assert load() == 0
    assert emu.repeat_in_next_export is None
    expected = leads.set_index("id")
    expected.update(newer.set_index("id"))
    assert_same_persons(warehouse, expected_rows(expected.reset_index()))


@pytest.mark.parametrize("code", ["601", "602", "604", "606", "608", "611", "615", 500, 502, 503])
def test_retryable_errors_are_retried(emu, leads, warehouse, code):
    emu.fail_next("/status.json", code, times=2)
    emu.fail_next("/describe.json", code, times=1)
    assert load() == 0
    assert_same_persons(warehouse, expected_rows(leads))


def test_token_expiry_mid_run_refreshes(emu, leads, warehouse):
    emu.fail_next("/create.json", "602", times=1)
    emu.expire_tokens()
    assert load() == 0
    assert emu.stats.calls["token"] >= 2
    assert_same_persons(warehouse, expected_rows(leads))


def test_daily_quota_stops_cleanly_and_resumes(emu, leads, warehouse, capsys):
    emu.daily_call_quota = 12
    assert load() == 3
    assert "daily API call quota" in capsys.readouterr().err
    emu.daily_call_quota = None
    assert load() == 0
    assert_same_persons(warehouse, expected_rows(leads))


def test_export_quota_stops_cleanly_and_resumes(emu, leads, warehouse, capsys):
    emu.fail_next("/enqueue.json", "1029", message="Export daily quota 500MB exceeded")
    assert load() == 3
    assert "export quota" in capsys.readouterr().err
    assert load() == 0
    assert_same_persons(warehouse, expected_rows(leads))


def test_queue_full_backs_off(emu, leads, warehouse):
    emu.fail_next("/enqueue.json", "1029", times=2, message="There are too many jobs in the queue")
    assert load() == 0
    assert_same_persons(warehouse, expected_rows(leads))


def test_1035_falls_back_to_created_at_windows(emu, leads, warehouse, capsys):
    emu.reject_updated_at_filter = True
    assert load() == 0
    assert "createdAt" in capsys.readouterr().err
    assert_same_persons(warehouse, expected_rows(leads))
    # the fallback is remembered: the next run asks for createdAt straight away
    n = len(emu.stats.export_filters)
    assert load() == 0
    assert all("createdAt" in f for f in emu.stats.export_filters[n:])


def test_failed_job_reports_marketo_error_then_recovers(emu, leads, warehouse, capsys):
    emu.fail_next_job = "Internal error while exporting"
    assert load() == 2
    assert "Internal error while exporting" in capsys.readouterr().err
    assert load() == 0
    assert_same_persons(warehouse, expected_rows(leads))


def test_stuck_job_times_out_and_is_reused_next_run(emu, leads, warehouse, monkeypatch, capsys):
    monkeypatch.setenv("SOURCES__MARKETO__JOB_TIMEOUT_SECONDS", "0.3")
    emu.stuck_in_queue = True
    assert load() == 3
    assert "still Queued" in capsys.readouterr().err
    created = emu.stats.calls["create"]
    emu.stuck_in_queue = False
    assert load() == 0
    # the two saved jobs were reused: only the remaining window(s) needed new ones
    assert emu.stats.calls["create"] - created <= 2
    assert_same_persons(warehouse, expected_rows(leads))


def test_file_404_once_cut_download_and_bad_checksum_recover(emu, leads, warehouse):
    emu.file_404_times = 1
    emu.cut_download_after = 500
    emu.checksum_mismatch_times = 1
    assert load() == 0
    assert_same_persons(warehouse, expected_rows(leads))


def test_checksum_that_never_matches_fails_clearly(emu, warehouse, capsys):
    emu.checksum_mismatch_times = 100
    assert load() == 2
    assert "SHA-256" in capsys.readouterr().err


def test_untypeable_row_is_quarantined_not_dropped(emu, leads, warehouse):
    bad = leads.head(1).copy()
    bad["numberOfEmployees"] = bad["numberOfEmployees"].astype(object)
    bad.loc[bad.index[0], "numberOfEmployees"] = "about twelve"
    emu.upsert_leads(bad)
    os.environ["SOURCES__MARKETO__EXTRA_FIELDS"] = "numberOfEmployees"
    try:
        assert load() == 0
    finally:
        del os.environ["SOURCES__MARKETO__EXTRA_FIELDS"]
    rejected = landed(warehouse, "leads_rejected")
    assert list(rejected["id"]) == [str(bad["id"].iloc[0])]
    assert "numberOfEmployees" in rejected["_rejected_reason"].iloc[0]
    assert "about twelve" in rejected["_rejected_reason"].iloc[0]
    assert len(landed(warehouse)) == len(leads) - 1


def test_company_refresh_catches_changes_that_did_not_bump_updated_at(emu, leads, warehouse, monkeypatch):
    assert load() == 0
    lead_id = int(leads["id"].iloc[0])
    emu.set_company_fields(lead_id, company="Acquired Corp", website="https://acquired.example")
    monkeypatch.setenv("SOURCES__MARKETO__COMPANY_REFRESH_DAYS", "0")
    assert load() == 0
    refreshed = landed(warehouse, "lead_company_fields").set_index("id")
    assert refreshed.loc[lead_id, "company"] == "Acquired Corp"
    assert refreshed.loc[lead_id, "website"] == "https://acquired.example"
    assert len(refreshed) == len(leads)


def test_rate_budget_keeps_under_the_limits(leads, tmp_path, monkeypatch, warehouse):
    with MarketoEmulator(
        leads, [], workdir=tmp_path / "emu", rate_limit_calls=25, rate_limit_window=2.0, status_update_seconds=0
    ) as emulator:
        point_loader_at(
            emulator,
            monkeypatch,
            POLL_INTERVAL_SECONDS="0",
            BACKOFF_BASE_SECONDS="5",
            RETRY_ATTEMPTS="0",
            WINDOW_DAYS="7",
            MAX_CALLS_PER_20S="25",
            RATE_WINDOW_SECONDS="2",
            DELETES_LOOKBACK_DAYS="1",
        )
        # 12 windows * (create, enqueue, status..., file) is well over 25 calls: the budget must pace them
        assert load() == 0
    assert_same_persons(warehouse, expected_rows(leads))


def test_killed_run_resumes_with_the_same_export_job(emu, leads, warehouse, tmp_path):
    emu.stuck_in_queue = True
    env = {**os.environ, "SOURCES__MARKETO__JOB_TIMEOUT_SECONDS": "600"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "loaders", "marketo"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while emu.stats.calls["status"] < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert emu.stats.calls["status"] >= 3, proc.stderr.read1().decode() if proc.poll() else "no polls"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    created = emu.stats.calls["create"]
    emu.stuck_in_queue = False
    assert load() == 0
    assert emu.stats.calls["create"] - created <= 1  # window 1 and 2 reused; only window 3 is new
    assert_same_persons(warehouse, expected_rows(leads))


# ------------------------------------------------------------------------------------------- deletes (B12)


def test_deletes_spread_over_weeks_all_land_then_only_new_ones(emu, leads, warehouse):
    """Marketo's delete feed scans its log block by block: pages of weeks without deletes are empty while
    moreResult stays true. Every delete the feed holds lands; the next runs ask from the saved token."""
    now = datetime.now(UTC).replace(microsecond=0)
    ids = [int(i) for i in leads["id"].iloc[:3]]
    emu.add_deletes(
        [{"leadId": i, "activityDate": now - timedelta(days=d)} for i, d in zip(ids, (13, 9, 6), strict=True)]
    )
    assert load() == 0
    assert sorted(landed(warehouse, "deleted_leads")["lead_id"]) == ids
    first_scan = emu.stats.calls["deletedleads"]
    assert first_scan >= 30  # a page per day of log since DELETES_LOOKBACK_DAYS, most of them empty

    assert load() == 0  # nothing new: the token saved past the empty blocks is where the feed resumes
    assert emu.stats.calls["deletedleads"] - first_scan <= 2
    assert len(landed(warehouse, "deleted_leads")) == 3

    later = int(leads["id"].iloc[3])
    emu.delete_leads([later])
    before = emu.stats.calls["deletedleads"]
    assert load() == 0
    assert sorted(landed(warehouse, "deleted_leads")["lead_id"]) == [*ids, later]
    assert emu.stats.calls["deletedleads"] - before <= 2


def test_delete_feed_stopped_by_the_quota_resumes_where_it_stopped(emu, leads, warehouse, capsys):
    now = datetime.now(UTC).replace(microsecond=0)
    ids = [int(i) for i in leads["id"].iloc[:2]]
    emu.add_deletes([{"leadId": i, "activityDate": now - timedelta(days=d)} for i, d in zip(ids, (12, 3), strict=True)])
    emu.fail_next("deletedleads", "607", after=20)
    assert load() == 3
    assert "daily API call quota" in capsys.readouterr().err
    assert list(landed(warehouse, "deleted_leads")["lead_id"]) == ids[:1]  # kept at the stop
    scanned = emu.stats.calls["deletedleads"]
    assert load() == 0
    assert sorted(landed(warehouse, "deleted_leads")["lead_id"]) == ids
    # the second run went on from where the first stopped, not from the start of the lookback
    assert emu.stats.calls["deletedleads"] - scanned <= 31 - 20 + 1


def test_a_wrong_checksum_in_one_status_reply_is_read_again(emu, leads, warehouse):
    """The status reply, not the file, carried the wrong checksum: the loader reads the status again and keeps
    the file it has (one download per window), where it used to download five times and give up."""
    emu.wrong_checksum_in_status_times = 1
    assert load() == 0
    assert_same_persons(warehouse, expected_rows(leads))
    assert emu.stats.calls["file"] == len(emu.stats.export_filters) == 3


def test_polling_copes_with_a_status_that_changes_once_per_interval(leads, tmp_path, monkeypatch, warehouse):
    """Marketo changes a job's status at most once a minute (here scaled down to 0.3 s)."""
    with MarketoEmulator(leads, workdir=tmp_path / "emu", status_update_seconds=0.3) as emulator:
        point_loader_at(emulator, monkeypatch, POLL_INTERVAL_SECONDS="0.05", DELETES_LOOKBACK_DAYS="1")
        assert load() == 0
        assert emulator.stats.calls["status"] > 2 * 3  # it polled on through the unchanged replies
    assert_same_persons(warehouse, expected_rows(leads))


def test_a_complete_reexport_is_recorded_and_a_partial_one_is_not(emu, leads, warehouse, monkeypatch):
    """`complete_exports` is what lets dbt call a landed person gone; a pass that stopped part way must not."""
    assert load() == 0  # the first import goes by updatedAt: it shows nothing about who was created when
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {t for (t,) in con.sql("select table_name from information_schema.tables").fetchall()}
    assert "complete_exports" not in tables
    monkeypatch.setenv("SOURCES__MARKETO__COMPANY_REFRESH_DAYS", "0")
    emu.fail_next_job = "Internal error while exporting"
    assert load() == 2  # the company refresh failed at its first window
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {t for (t,) in con.sql("select table_name from information_schema.tables").fetchall()}
    assert "complete_exports" not in tables
    began = datetime.now(UTC)
    assert load() == 0  # the refresh resumes and completes
    (row,) = landed(warehouse, "complete_exports").to_dict("records")
    assert (row["export"], row["landed_in"]) == ("company", "lead_company_fields")
    assert pd.Timestamp(row["created_from"]) == max(START, began - timedelta(days=90)) == START
    assert abs(pd.Timestamp(row["created_to"]) - began) < timedelta(minutes=5)
    reads = landed(warehouse, "lead_company_fields")["_read_at"]
    assert pd.Timestamp(row["read_from"]) == reads.min() and len(reads) == len(leads)


def test_salesforce_ids_in_their_15_character_form_land_as_18(emu, leads, warehouse):
    synced = leads[leads["sfdcContactId"].notna()].head(4)
    short = synced[["id", "sfdcLeadId", "sfdcContactId", "sfdcAccountId"]].copy()
    for column in ("sfdcLeadId", "sfdcContactId", "sfdcAccountId"):
        short[column] = short[column].str[:15]
    emu.upsert_leads(short)
    assert emu.leads.set_index("id").loc[synced["id"], "sfdcContactId"].str.len().eq(15).all()
    assert load() == 0
    assert_same_persons(warehouse, expected_rows(leads))  # the 18-character ids the generator minted


def test_a_marketo_run_imports_no_other_source_and_help_lists_all(capsys):
    """`python -m loaders marketo` skips the other sources' modules (web's pandas and fsspec are a good part
    of a short run's start-up); the top-level help still lists every source."""
    code = (
        "import sys; from loaders.__main__ import build_parser; build_parser('marketo'); "
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('loaders.')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['__main__', 'common', 'marketo']"
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = capsys.readouterr().out
    assert all(source in listed for source in ("marketo", "web", "salesforce", "dynamics"))
