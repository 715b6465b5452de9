"""The Marketo emulator and the person generator, checked over real HTTP against Marketo's wire format."""

from __future__ import annotations

import csv
import hashlib
import io
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import requests
from marketorestpython.client import MarketoClient
from marketorestpython.helper.exceptions import MarketoException

from sandbox.marketo import STATUS_UPDATE_SECONDS, MarketoEmulator
from sandbox.people import (
    FREE_MAIL_DOMAINS,
    MARKETO_FIELDS,
    QUIRK_COMMENT_CRLF,
    QUIRK_COMMENT_NEWLINE,
    QUIRK_COMMENT_NUL,
    QUIRK_COMPANY_NON_ASCII,
    QUIRK_COMPANY_QUOTE,
    QUIRK_TITLE_LINE_SEPARATOR,
    generate_deleted,
    generate_leads,
    marketo_fields,
)

CLIENT_ID, CLIENT_SECRET = "sandbox-client", "sandbox-secret"
START, END = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 31, 23, 59, 59, tzinfo=UTC)
ALL_FIELDS = [f["rest"]["name"] for f in MARKETO_FIELDS]


@pytest.fixture(scope="module")
def leads() -> pd.DataFrame:
    return generate_leads(3000, seed=7, start=START, end=END)


@pytest.fixture
def emulator(leads, tmp_path):
    with MarketoEmulator(leads, workdir=tmp_path, status_update_seconds=0) as emu:
        yield emu


class Client:
    """The smallest honest Marketo client: Bearer header, JSON envelope, nothing clever."""

    def __init__(self, emu: MarketoEmulator) -> None:
        self.base = emu.base_url
        self.http = requests.Session()
        self.token = self.fetch_token()["access_token"]

    def fetch_token(self, secret: str = CLIENT_SECRET) -> dict:
        return self.http.get(
            f"{self.base}/identity/oauth/token",
            params={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": secret},
        ).json()

    def raw(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.base}{path}", headers=headers, timeout=30, **kwargs)

    def call(self, method: str, path: str, **kwargs) -> dict:
        response = self.raw(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def create(
        self,
        start: str,
        end: str,
        filter_type: str = "updatedAt",
        fields: list[str] | None = None,
        fmt: str = "CSV",
    ) -> dict:
        return self.call(
            "POST",
            "/bulk/v1/leads/export/create.json",
            json={
                "fields": fields or ALL_FIELDS,
                "format": fmt,
                "filter": {filter_type: {"startAt": start, "endAt": end}},
            },
        )

    def job(self, export_id: str, verb: str) -> dict:
        method = "GET" if verb == "status" else "POST"
        return self.call(method, f"/bulk/v1/leads/export/{export_id}/{verb}.json")

    def export(
        self, start: str, end: str, filter_type: str = "updatedAt", fields: list[str] | None = None
    ) -> tuple[dict, bytes]:
        """create → enqueue → poll → file: the Completed status and the file body."""
        export_id = self.create(start, end, filter_type, fields)["result"][0]["exportId"]
        self.job(export_id, "enqueue")
        for _ in range(20):
            status = self.job(export_id, "status")["result"][0]
            if status["status"] == "Completed":
                break
        else:
            raise AssertionError(f"job never completed: {status}")
        response = self.raw("GET", f"/bulk/v1/leads/export/{export_id}/file.json")
        assert response.status_code == 200
        return status, response.content


def error_of(body: dict) -> tuple[str, str]:
    assert body["success"] is False and "result" not in body
    (error,) = body["errors"]
    assert isinstance(error["code"], str)
    return error["code"], error["message"]


def parse_csv(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


def as_marketo_text(value, data_type: str) -> str:
    """What one stored value must look like in the export, computed independently of the emulator."""
    if value is None or pd.isna(value):
        return "null"
    if data_type == "datetime":
        return pd.Timestamp(value).tz_convert(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if data_type == "date":
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    if data_type == "boolean":
        return "true" if value else "false"
    return str(value)


def assert_rows_match(rows: list[dict[str, str]], expected: pd.DataFrame) -> None:
    types = {f["rest"]["name"]: f["dataType"] for f in MARKETO_FIELDS}
    by_id = {int(r["id"]): r for r in rows}
    assert sorted(by_id) == sorted(expected["id"].tolist())
    for record in expected.to_dict("records"):
        row = by_id[record["id"]]
        for name, data_type in types.items():
            got, want = row[name], as_marketo_text(record[name], data_type)
            if data_type == "currency" and want != "null":
                assert float(got) == float(want), (record["id"], name)
            else:
                assert got == want, (record["id"], name, got, want)


# ------------------------------------------------------------------------------------------------ auth


def test_token_is_reused_until_it_expires_then_602(leads):
    with MarketoEmulator(leads, token_ttl=1, status_update_seconds=0) as emu:
        client = Client(emu)
        again = client.fetch_token()
        assert again["access_token"] == client.token and again["token_type"] == "bearer"
        assert 0 <= again["expires_in"] <= 1 and again["scope"]
        assert client.call("GET", "/rest/v1/leads/describe.json")["success"] is True
        time.sleep(1.1)
        assert error_of(client.call("GET", "/rest/v1/leads/describe.json")) == ("602", "Access token expired")
        fresh = client.fetch_token()
        assert fresh["access_token"] != client.token and fresh["expires_in"] == 1


def test_bad_credentials_are_an_http_401(emulator):
    response = requests.post(
        f"{emulator.base_url}/identity/oauth/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "wrong"},
    )
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client", "error_description": "Bad client credentials"}


def test_600_601_602_and_query_parameter_tokens(emulator):
    client = Client(emulator)
    url = f"{emulator.base_url}/rest/v1/leads/describe.json"
    assert error_of(requests.get(url).json())[0] == "600"
    assert error_of(requests.get(url, headers={"Authorization": "Bearer nope"}).json())[0] == "601"
    assert error_of(requests.get(url, params={"access_token": client.token}).json())[0] == "601"
    assert emulator.stats.query_param_tokens == 1
    emulator.expire_tokens()
    assert error_of(client.call("GET", "/rest/v1/leads/describe.json"))[0] == "602"
    client.token = client.fetch_token()["access_token"]
    assert client.call("GET", "/rest/v1/leads/describe.json")["success"] is True
    assert emulator.stats.calls["describe"] == 5 and emulator.stats.calls["token"] == 2


def test_describe_lists_the_fields_with_rest_names(emulator):
    body = Client(emulator).call("GET", "/rest/v1/leads/describe.json")
    assert body["success"] is True and "#" in body["requestId"]
    assert body["result"] == MARKETO_FIELDS
    names = {f["rest"]["name"]: f["dataType"] for f in body["result"]}
    assert names["updatedAt"] == "datetime" and names["email"] == "email" and names["comments"] == "text"
    assert {"sfdcType", "sfdcLeadId", "sfdcContactId", "sfdcAccountId"} <= set(names)
    assert {"msftType", "msftLeadId", "msftContactId", "msftAccountId"} <= {
        f["rest"]["name"] for f in marketo_fields(with_dynamics=True)
    }


# ----------------------------------------------------------------------------------------- bulk export


def test_export_round_trip_with_inclusive_ends(leads, tmp_path):
    boundary = pd.Timestamp("2024-02-01T00:00:00Z")
    edges = leads.iloc[:3].copy()
    edges["updatedAt"] = [pd.Timestamp("2024-01-15T00:00:00Z"), boundary, boundary + pd.Timedelta(seconds=1)]
    with MarketoEmulator(leads, workdir=tmp_path, status_update_seconds=0) as emu:
        emu.upsert_leads(edges)
        stored = emu.leads
        client = Client(emu)
        status, body = client.export("2024-01-15T00:00:00Z", "2024-02-01T00:00:00Z")
        first = parse_csv(body)
        low, high = pd.Timestamp("2024-01-15T00:00:00Z"), boundary
        expected = stored[(stored["updatedAt"] >= low) & (stored["updatedAt"] <= high)]
        assert_rows_match(first, expected)
        assert list(csv.reader(io.StringIO(body.decode(), newline="")))[0] == ALL_FIELDS
        assert status["numberOfRecords"] == len(expected) and status["fileSize"] == len(body)
        assert status["fileChecksum"] == "sha256:" + hashlib.sha256(body).hexdigest()
        ids = {int(r["id"]) for r in first}
        assert edges["id"].iloc[0] in ids and edges["id"].iloc[1] in ids and edges["id"].iloc[2] not in ids

        # The adjacent window starts on the same instant: the boundary person is exported twice.
        _, body = client.export("2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z")
        second = {int(r["id"]) for r in parse_csv(body)}
        assert edges["id"].iloc[1] in second and edges["id"].iloc[2] in second
        assert emu.stats.export_filters[1] == {
            "updatedAt": {"startAt": "2024-02-01T00:00:00Z", "endAt": "2024-03-01T00:00:00Z"}
        }


def test_created_at_filter_and_requested_column_order(emulator, leads):
    client = Client(emulator)
    _, body = client.export(
        "2024-01-01T00:00:00Z",
        "2024-01-10T00:00:00Z",
        filter_type="createdAt",
        fields=["email", "id", "createdAt"],
    )
    table = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert table[0] == ["email", "id", "createdAt"]
    low, high = pd.Timestamp("2024-01-01T00:00:00Z"), pd.Timestamp("2024-01-10T00:00:00Z")
    expected = leads[(leads["createdAt"] >= low) & (leads["createdAt"] <= high)]
    assert sorted(int(r[1]) for r in table[1:]) == sorted(expected["id"])


def test_filter_validation_31_days_and_formats(emulator):
    client = Client(emulator)
    ok = client.create("2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00+00:00")
    assert ok["result"][0]["status"] == "Created" and ok["result"][0]["format"] == "CSV"
    assert client.create("2024-01-01T00:00:00-05:00", "2024-01-31T00:00:00-05:00")["success"] is True
    code, message = error_of(client.create("2024-01-01T00:00:00Z", "2024-02-01T00:00:01Z"))
    assert code == "1003" and "31 days" in message
    assert error_of(client.create("2024-02-01T00:00:00Z", "2024-01-01T00:00:00Z"))[0] == "1003"
    assert error_of(client.create("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", fields=["id", "nope"]))[0] == "1003"
    assert (
        error_of(client.call("POST", "/bulk/v1/leads/export/create.json", json={"fields": ["id"], "format": "CSV"}))[0]
        == "1003"
    )
    assert error_of(client.create("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", fmt="XML"))[0] == "1003"
    emulator.reject_updated_at_filter = True
    assert error_of(client.create("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")) == (
        "1035",
        "Unsupported filter type for target subscription: updatedAt",
    )
    assert client.create("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "createdAt")["success"] is True
    assert error_of(client.job("00000000-0000-0000-0000-000000000000", "status"))[0] == "1003"


def test_file_range_206_and_checksum(emulator):
    client = Client(emulator)
    status, body = client.export("2024-01-01T00:00:00Z", "2024-01-31T00:00:00Z")
    assert status["fileChecksum"] == f"sha256:{hashlib.sha256(body).hexdigest()}"
    path = f"/bulk/v1/leads/export/{status['exportId']}/file.json"
    tail = client.raw("GET", path, headers={"Range": "bytes=100-"})
    assert tail.status_code == 206 and tail.content == body[100:]
    assert tail.headers["Content-Range"] == f"bytes 100-{len(body) - 1}/{len(body)}"
    assert tail.headers["Content-Length"] == str(len(body) - 100)
    middle = client.raw("GET", path, headers={"Range": "bytes=10-19"})
    assert middle.status_code == 206 and middle.content == body[10:20]
    assert client.raw("GET", path, headers={"Range": f"bytes={len(body)}-"}).status_code == 416
    full = client.raw("GET", path)
    assert full.headers["Content-Type"].startswith("text/csv") and full.headers["Content-Length"] == str(len(body))


def test_job_lifecycle_two_processing_and_queue_limit(emulator):
    client = Client(emulator)
    ids = [
        client.create(f"2024-01-{d:02d}T00:00:00Z", f"2024-01-{d + 1:02d}T00:00:00Z")["result"][0]["exportId"]
        for d in range(1, 5)
    ]
    before = client.job(ids[0], "status")["result"][0]
    assert before["status"] == "Created" and "queuedAt" not in before
    early = client.raw("GET", f"/bulk/v1/leads/export/{ids[0]}/file.json")
    assert early.status_code == 404 and early.headers["Content-Type"].startswith("text/plain")
    for export_id in ids:
        assert client.job(export_id, "enqueue")["result"][0]["status"] == "Queued"
    assert error_of(client.job(ids[0], "enqueue")) == ("1029", "Job already queued")
    assert [j["status"] for j in emulator.jobs()[:4]] == ["Queued"] * 4
    client.job(ids[0], "status")  # one scheduler tick: two start, two wait
    assert [j["status"] for j in emulator.jobs()[:4]] == ["Processing", "Processing", "Queued", "Queued"]
    seen: list[list[str]] = []
    for _ in range(10):
        states = [client.job(export_id, "status")["result"][0] for export_id in ids]
        seen.append([s["status"] for s in states])
        assert sum(s["status"] == "Processing" for s in states) <= 2
    assert seen[-1] == ["Completed"] * 4
    assert emulator.stats.max_processing_jobs == 2
    done = client.job(ids[0], "status")["result"][0]
    assert {"queuedAt", "startedAt", "finishedAt", "numberOfRecords", "fileSize", "fileChecksum"} <= set(done)

    emulator.stuck_in_queue = True
    queued = []
    for d in range(10):
        export_id = client.create("2024-02-01T00:00:00Z", f"2024-02-{d + 2:02d}T00:00:00Z")["result"][0]["exportId"]
        queued.append(export_id)
        client.job(export_id, "enqueue")
    spare = client.create("2024-02-01T00:00:00Z", "2024-02-03T00:00:00Z")["result"][0]["exportId"]
    assert error_of(client.job(spare, "enqueue")) == ("1029", "Too many jobs in queue")
    for _ in range(3):
        assert client.job(queued[0], "status")["result"][0]["status"] == "Queued"
    assert client.job(queued[0], "cancel")["result"][0]["status"] == "Cancelled"
    assert client.job(spare, "enqueue")["result"][0]["status"] == "Queued"


def test_failed_job_daily_export_quota_and_404s(emulator):
    client = Client(emulator)
    emulator.fail_next_job = "Export failed: internal error"
    export_id = client.create("2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z")["result"][0]["exportId"]
    client.job(export_id, "enqueue")
    statuses = [client.job(export_id, "status")["result"][0] for _ in range(3)]
    assert statuses[-1]["status"] == "Failed" and statuses[-1]["errorMsg"] == "Export failed: internal error"
    assert emulator.fail_next_job is None

    emulator.file_404_times = 1
    status, body = None, None
    export_id = client.create("2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z")["result"][0]["exportId"]
    client.job(export_id, "enqueue")
    while (status := client.job(export_id, "status")["result"][0])["status"] != "Completed":
        pass
    path = f"/bulk/v1/leads/export/{export_id}/file.json"
    assert client.raw("GET", path).status_code == 404
    body = client.raw("GET", path).content
    assert len(body) == status["fileSize"]

    emulator.export_daily_quota_bytes = len(body) - 1
    another = client.create("2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z")["result"][0]["exportId"]
    code, message = error_of(client.job(another, "enqueue"))
    assert code == "1029" and "quota" in message


def test_cut_download_and_checksum_mismatch(emulator):
    client = Client(emulator)
    status, body = client.export("2024-01-01T00:00:00Z", "2024-01-31T00:00:00Z")
    path = f"/bulk/v1/leads/export/{status['exportId']}/file.json"
    emulator.cut_download_after = 1000
    with pytest.raises(requests.exceptions.RequestException):
        client.raw("GET", path).content  # noqa: B018 (reading the body is the point)
    assert emulator.cut_download_after is None
    resumed = client.raw("GET", path, headers={"Range": "bytes=1000-"})
    assert resumed.status_code == 206 and resumed.content == body[1000:]

    emulator.checksum_mismatch_times = 1
    bad = client.raw("GET", path).content
    assert len(bad) == len(body) and bad != body
    assert f"sha256:{hashlib.sha256(bad).hexdigest()}" != status["fileChecksum"]
    assert len(parse_csv(bad)) == status["numberOfRecords"]
    assert client.raw("GET", path).content == body

    # the status reply can be the wrong one too: the file is intact, the next reply is right again
    emulator.wrong_checksum_in_status_times = 1
    wrong = client.job(status["exportId"], "status")["result"][0]["fileChecksum"]
    assert wrong != status["fileChecksum"] and client.raw("GET", path).content == body
    assert client.job(status["exportId"], "status")["result"][0]["fileChecksum"] == status["fileChecksum"]


def test_unknown_path_is_error_610_and_a_missing_file_a_plain_404(emulator):
    client = Client(emulator)
    response = client.raw("GET", "/rest/v1/lead/1/nothing.json")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    assert error_of(response.json()) == ("610", "Requested resource not found")
    unknown = client.raw("GET", "/bulk/v1/leads/export/00000000-0000-0000-0000-000000000000/file.json")
    assert unknown.status_code == 404 and unknown.headers["Content-Type"].startswith("text/plain")
    assert unknown.text == "Not Found"


def test_job_status_changes_at_most_once_per_interval_in_real_time(leads, tmp_path):
    assert MarketoEmulator(leads).status_update_seconds == STATUS_UPDATE_SECONDS == 60  # Adobe's figure
    with MarketoEmulator(leads, workdir=tmp_path, status_update_seconds=0.4) as emu:
        client = Client(emu)
        export_id = client.create("2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z")["result"][0]["exportId"]
        client.job(export_id, "enqueue")
        began, changes, last = time.monotonic(), [], "Queued"
        while last != "Completed" and time.monotonic() - began < 10:
            state = client.job(export_id, "status")["result"][0]["status"]
            if state != last:
                changes.append((state, time.monotonic() - began))
                last = state
            time.sleep(0.02)
    assert [state for state, _ in changes] == ["Processing", "Completed"]
    assert changes[0][1] >= 0.4 and changes[1][1] - changes[0][1] >= 0.4


def test_company_change_without_updated_at_shows_in_the_next_file(emulator, leads):
    client = Client(emulator)
    target = leads[
        (leads["updatedAt"] >= pd.Timestamp("2024-01-10T00:00:00Z"))
        & (leads["updatedAt"] <= pd.Timestamp("2024-01-20T00:00:00Z"))
    ].iloc[0]
    emulator.set_company_fields(int(target["id"]), company="Renamed Corp", website="https://renamed.example")
    _, body = client.export("2024-01-10T00:00:00Z", "2024-01-20T00:00:00Z")
    row = next(r for r in parse_csv(body) if int(r["id"]) == target["id"])
    assert row["company"] == "Renamed Corp" and row["website"] == "https://renamed.example"
    assert row["updatedAt"] == as_marketo_text(target["updatedAt"], "datetime")


def test_upsert_replaces_by_id_and_appends(emulator, leads):
    changed = pd.DataFrame(
        {"id": [int(leads["id"].iloc[0])], "leadStatus": ["MQL"], "updatedAt": ["2024-03-20T08:00:00Z"]}
    )
    brand_new = leads.iloc[:1].copy()
    brand_new["id"] = 999_999
    brand_new["updatedAt"] = pd.Timestamp("2024-03-20T09:00:00Z")
    emulator.upsert_leads(changed)
    emulator.upsert_leads(brand_new)
    stored = emulator.leads
    assert len(stored) == len(leads) + 1 and stored["id"].is_unique
    _, body = Client(emulator).export("2024-03-20T08:00:00Z", "2024-03-20T09:00:00Z")
    rows = {int(r["id"]): r for r in parse_csv(body)}
    first = rows[int(leads["id"].iloc[0])]
    assert first["leadStatus"] == "MQL" and first["email"] == as_marketo_text(leads["email"].iloc[0], "email")
    assert rows[999_999]["updatedAt"] == "2024-03-20T09:00:00Z"


def test_stop_cuts_pooled_connections_and_restart_keeps_state(emulator):
    client = Client(emulator)
    status, body = client.export("2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z")
    base_url = emulator.base_url
    emulator.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        client.raw("GET", "/rest/v1/leads/describe.json")
    assert emulator.start() == base_url
    assert client.raw("GET", f"/bulk/v1/leads/export/{status['exportId']}/file.json").content == body


# ------------------------------------------------------------------------------------ limits and faults


def test_606_when_the_call_window_is_full(leads):
    with MarketoEmulator(leads, rate_limit_calls=5, rate_limit_window=1.0, status_update_seconds=0) as emu:
        client = Client(emu)
        for _ in range(5):
            assert client.call("GET", "/rest/v1/leads/describe.json")["success"] is True
        code, message = error_of(client.call("GET", "/rest/v1/leads/describe.json"))
        assert code == "606" and "'5'" in message
        assert client.fetch_token()["access_token"]  # token calls are outside the budget
        time.sleep(1.05)
        assert client.call("GET", "/rest/v1/leads/describe.json")["success"] is True


def test_615_past_ten_calls_in_flight(emulator):
    client = Client(emulator)
    emulator.response_delay = 0.4
    codes: list[str] = []
    lock = threading.Lock()

    def one_call() -> None:
        body = requests.get(
            f"{emulator.base_url}/rest/v1/leads/describe.json",
            headers={"Authorization": f"Bearer {client.token}"},
            timeout=10,
        ).json()
        with lock:
            codes.append("ok" if body["success"] else body["errors"][0]["code"])

    threads = [threading.Thread(target=one_call) for _ in range(14)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes.count("615") >= 1 and codes.count("ok") >= 1
    assert emulator.stats.max_in_flight > 10


def test_daily_call_quota_607(emulator):
    client = Client(emulator)
    emulator.daily_call_quota = 2
    for _ in range(2):
        assert client.call("GET", "/rest/v1/leads/describe.json")["success"] is True
    assert error_of(client.call("GET", "/rest/v1/leads/describe.json")) == ("607", "Daily quota reached")


def test_fail_next_by_path_as_envelope_or_http_status(emulator):
    client = Client(emulator)
    emulator.fail_next("describe", "606", times=2)
    emulator.fail_next("pagingtoken", 503)
    emulator.fail_next("deletedleads", "611", message="System error: try later")
    for _ in range(2):
        code, message = error_of(client.call("GET", "/rest/v1/leads/describe.json"))
        assert code == "606" and message.startswith("Max rate limit")
    assert client.call("GET", "/rest/v1/leads/describe.json")["success"] is True
    response = client.raw("GET", "/rest/v1/activities/pagingtoken.json", params={"sinceDatetime": "2024-01-01"})
    assert response.status_code == 503
    token = client.call("GET", "/rest/v1/activities/pagingtoken.json", params={"sinceDatetime": "2024-01-01"})[
        "nextPageToken"
    ]
    assert error_of(client.call("GET", "/rest/v1/activities/deletedleads.json", params={"nextPageToken": token})) == (
        "611",
        "System error: try later",
    )


# -------------------------------------------------------------------------------------------- deletes


def feed(client: Client, token: str, **params) -> list[dict]:
    """Every page of the delete feed from `token` until moreResult is false."""
    pages = []
    while True:
        body = client.call("GET", "/rest/v1/activities/deletedleads.json", params={"nextPageToken": token, **params})
        pages.append(body)
        token = body["nextPageToken"]
        if not body["moreResult"]:
            return pages


def test_deletedleads_scans_the_log_in_blocks_with_empty_and_short_pages(leads):
    """Marketo scans its activity log block by block: a block without deletes is a page with no `result`,
    `moreResult: true` and a token that moved on; a block with a few is a short page; a full page cuts a block."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    busy_day, quiet_day = today - timedelta(days=10), today - timedelta(days=3)
    deletes = [{"leadId": i, "activityDate": busy_day + timedelta(minutes=i // 2)} for i in range(1, 701)]
    deletes += [{"leadId": 701, "activityDate": quiet_day}, {"leadId": 702, "activityDate": quiet_day}]
    with MarketoEmulator(leads, deletes, status_update_seconds=0) as emu:
        client = Client(emu)
        since = client.call("GET", "/rest/v1/activities/pagingtoken.json", params={"sinceDatetime": _iso(busy_day)})
        pages = feed(client, since["nextPageToken"])
        sizes = [len(p.get("result", [])) for p in pages]
        # day -10: 700 deletes in pages of 300, the block after the second full page short; then empty blocks
        # of a day each up to the one holding day -3's two deletes; then empty blocks up to now
        assert sizes[:3] == [300, 300, 100] and [n for n in sizes[3:] if n] == [2] and len(pages) >= 10
        assert all(p["moreResult"] for p in pages[:-1]) and pages[-1]["moreResult"] is False
        empty = [p for p in pages if "result" not in p]
        assert empty and all(p["success"] for p in empty)
        tokens = [p["nextPageToken"] for p in pages]
        assert len(set(tokens)) == len(tokens), "every page moves the token on"
        items = [item for p in pages for item in p.get("result", [])]
        assert [i["leadId"] for i in items] == list(range(1, 703))
        first = items[0]
        assert first["activityTypeId"] == 37 and first["attributes"] == [] and first["marketoGUID"]
        assert first["primaryAttributeValueId"] == 1 and first["activityDate"] == _iso(busy_day)

        # the final token continues with what happens later, and nothing else
        emu.delete_leads([5])
        later = feed(client, tokens[-1], batchSize=10)
        assert [i["leadId"] for p in later for i in p.get("result", [])] == [5]

        since = client.call(
            "GET", "/rest/v1/activities/pagingtoken.json", params={"sinceDatetime": _iso(busy_day + timedelta(hours=5))}
        )["nextPageToken"]
        body = client.call(
            "GET", "/rest/v1/activities/deletedleads.json", params={"nextPageToken": since, "batchSize": 5}
        )
        assert body["result"][0]["activityDate"] == _iso(busy_day + timedelta(hours=5))
        assert len(body["result"]) == 5 and body["moreResult"] is True


def test_delete_activities_are_pruned_and_deleted_persons_leave_exports(leads):
    today = datetime.now(UTC).replace(microsecond=0)
    old, recent = int(leads["id"].iloc[0]), int(leads["id"].iloc[1])
    deletes = [
        {"leadId": old, "activityDate": today - timedelta(days=20)},
        {"leadId": recent, "activityDate": today - timedelta(days=2)},
    ]
    with MarketoEmulator(leads, deletes, status_update_seconds=0, delete_retention_days=14) as emu:
        client = Client(emu)
        since = client.call(
            "GET", "/rest/v1/activities/pagingtoken.json", params={"sinceDatetime": _iso(today - timedelta(days=30))}
        )["nextPageToken"]
        assert [i["leadId"] for p in feed(client, since) for i in p.get("result", [])] == [recent]
        assert not {old, recent} & set(emu.leads["id"])
        _, body = client.export("2024-01-01T00:00:00Z", "2024-01-31T00:00:00Z", "createdAt")
        assert not {old, recent} & {int(r["id"]) for r in parse_csv(body)}


# ---------------------------------------------------------------------------------- an independent client


def marketo_rest(emu: MarketoEmulator) -> MarketoClient:
    """marketorestpython's client (it builds https://<munchkin id>.mktorest.com), pointed at the emulator."""
    client = MarketoClient("123-ABC-456", CLIENT_ID, CLIENT_SECRET, max_retry_time=5, requests_timeout=10)
    client.host = emu.base_url
    return client


def test_marketorestpython_reads_the_delete_feed_through_empty_pages(leads):
    today = datetime.now(UTC).replace(microsecond=0)
    deletes = [
        {"leadId": 11, "activityDate": today - timedelta(days=4)},
        {"leadId": 12, "activityDate": today - timedelta(days=1, hours=2)},
    ]
    with MarketoEmulator(leads, deletes, status_update_seconds=0) as emu:
        found = marketo_rest(emu).get_deleted_leads(sinceDatetime=_iso(today - timedelta(days=6)))
        assert [d["leadId"] for d in found] == [11, 12]
        assert emu.stats.calls["deletedleads"] >= 6  # a page per day of the log, most of them empty


def test_marketorestpython_export_lifecycle_and_unknown_endpoint(emulator, leads):
    client = marketo_rest(emulator)
    window = {"startAt": "2024-01-01T00:00:00Z", "endAt": "2024-01-10T00:00:00Z"}
    (job,) = client.create_leads_export_job(fields=["id", "email", "createdAt"], filters={"createdAt": window})
    assert job["status"] == "Created"
    client.enqueue_leads_export_job(job["exportId"])
    for _ in range(10):
        (status,) = client.get_leads_export_job_status(job["exportId"])
        if status["status"] == "Completed":
            break
    body = client.get_leads_export_job_file(job["exportId"])
    assert status["fileChecksum"] == f"sha256:{hashlib.sha256(body).hexdigest()}"
    low, high = pd.Timestamp(window["startAt"]), pd.Timestamp(window["endAt"])
    expected = leads[(leads["createdAt"] >= low) & (leads["createdAt"] <= high)]
    assert sorted(int(r["id"]) for r in parse_csv(body)) == sorted(expected["id"])
    # an endpoint the emulator does not serve answers Marketo's JSON error, which the client understands
    with pytest.raises(MarketoException) as raised:
        client.get_lead_by_id(1)
    assert raised.value.code == "610"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -------------------------------------------------------------------------------------------- CSV quirks


def test_csv_quirks_round_trip_with_crlf(leads, tmp_path):
    stored = leads.copy()
    stored["updatedAt"] = pd.Timestamp("2024-03-01T12:00:00Z")
    with MarketoEmulator(stored, workdir=tmp_path, line_terminator="\r\n", status_update_seconds=0) as emu:
        _, body = Client(emu).export("2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z")
    assert body.count(b"\r\n") >= len(stored)
    rows = parse_csv(body)
    assert_rows_match(rows, stored)
    values = {v for r in rows for v in r.values()}
    for quirk in (
        QUIRK_COMPANY_QUOTE,
        QUIRK_COMMENT_NEWLINE,
        QUIRK_COMMENT_CRLF,
        QUIRK_COMMENT_NUL,
        QUIRK_COMPANY_NON_ASCII,
        QUIRK_TITLE_LINE_SEPARATOR,
    ):
        assert quirk in values
    assert b'"Acme ""Rockets"", Inc."' in body and "\u2028".encode() in body and b"\x00" in body
    assert b",null," in body
    nulls = stored["comments"].isna().sum()
    assert sum(r["comments"] == "null" for r in rows) == nulls


# ------------------------------------------------------------------------------------------- generator


def test_generator_is_fast_deterministic_and_realistic():
    began = time.perf_counter()
    frame = generate_leads(200_000, seed=3)
    assert time.perf_counter() - began < 20
    assert frame.columns.tolist() == ALL_FIELDS
    assert frame["id"].is_unique and (frame["updatedAt"] >= frame["createdAt"]).all()
    assert str(frame["createdAt"].dt.tz) == "UTC"
    assert (frame["createdAt"].dt.microsecond == 0).all()
    emails = frame["email"].dropna()
    assert 0.01 < frame["email"].isna().mean() < 0.03
    domains = emails.str.strip().str.lower().str.split("@").str[-1]
    assert 0.10 < domains.isin(FREE_MAIL_DOMAINS).mean() < 0.20
    assert (~emails.str.contains("@")).sum() > 0 and (emails != emails.str.strip()).sum() > 0
    synced = frame["sfdcType"].notna().mean()
    assert 0.35 < synced < 0.45
    contacts = frame[frame["sfdcType"] == "Contact"]
    assert contacts["sfdcContactId"].str.match(r"^003\w{15}$").all()
    assert contacts["sfdcAccountId"].str.match(r"^001\w{15}$").all()
    assert frame.loc[frame["sfdcType"] == "Lead", "sfdcLeadId"].str.match(r"^00Q\w{15}$").all()
    assert set(frame["leadStatus"]) == {"New", "Working", "Nurture", "MQL", "SQL", "Disqualified"}
    for column in frame.columns:
        if frame[column].dtype in (object, "str"):
            assert not (frame[column] == "null").any(), column
    small = generate_leads(500, seed=3)
    pd.testing.assert_frame_equal(small, generate_leads(500, seed=3))
    dynamics = generate_leads(500, seed=3, with_dynamics=True)
    assert dynamics["msftType"].notna().any() and dynamics["sfdcType"].isna().all()


def test_generate_deleted_has_repeats_and_unknown_ids(leads):
    deletes = generate_deleted(leads, fraction=0.01, seed=1)
    lead_ids = [d["leadId"] for d in deletes]
    assert len(lead_ids) - len(set(lead_ids)) >= 1
    assert any(i not in set(leads["id"]) for i in lead_ids)
    created = leads.set_index("id")["createdAt"]
    for d in deletes:
        if d["leadId"] in created.index:
            assert d["activityDate"] > created[d["leadId"]]


def test_cli_serves_until_stopped():
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.marketo", "--persons", "300", "--seed", "1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(3))
        token = requests.get(
            f"{lines['SOURCES__MARKETO__BASE_URL']}/identity/oauth/token",
            params={
                "grant_type": "client_credentials",
                "client_id": lines["SOURCES__MARKETO__CLIENT_ID"],
                "client_secret": lines["SOURCES__MARKETO__CLIENT_SECRET"],
            },
            timeout=10,
        ).json()
        assert token["access_token"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
