"""Marketo loader settings, resolved by dlt from env vars or .dlt/config.toml + secrets.toml."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import dlt
from dlt.common.configuration import with_config
from dlt.common.configuration.exceptions import ConfigFieldMissingException

from loaders.common import LoaderError

# B7 fields and the CRM ids duplicate detection needs: always requested when the instance has them
REQUIRED_FIELDS = ["id", "email", "createdAt", "updatedAt", "website", "company", "leadStatus"]
CRM_ID_FIELDS = [
    "sfdcType",
    "sfdcLeadId",
    "sfdcContactId",
    "sfdcAccountId",
    "msftType",
    "msftLeadId",
    "msftContactId",
    "msftAccountId",
]
# the Salesforce ids the Marketo<->Salesforce sync writes: landed in their 18-character form
SALESFORCE_ID_FIELDS = ["sfdcLeadId", "sfdcContactId", "sfdcAccountId"]
DEFAULT_EXTRA_FIELDS = ["firstName", "lastName", "leadSource", "title", "country"]
DEFAULT_COMPANY_FIELDS = [
    "company",
    "website",
    "industry",
    "numberOfEmployees",
    "annualRevenue",
    "billingCountry",
    "mainPhone",
]


@dataclass
class MarketoSettings:
    base_url: str
    client_id: str
    client_secret: str
    start_date: datetime
    rolling_window_days: int = 730
    window_days: int = 31
    lookback_minutes: int = 60
    filter_field: str = "updatedAt"
    extra_fields: list[str] = field(default_factory=lambda: list(DEFAULT_EXTRA_FIELDS))
    company_fields: list[str] = field(default_factory=lambda: list(DEFAULT_COMPANY_FIELDS))
    company_refresh_days: float = 7.0
    full_refresh_days: float = 7.0
    poll_interval_seconds: float = 60.0
    job_timeout_seconds: float = 3 * 3600.0
    deletes_lookback_days: float = 30.0
    max_calls_per_20s: int = 100
    max_concurrent_calls: int = 10
    retry_attempts: int = 8
    backoff_base_seconds: float = 1.0
    rate_window_seconds: float = 20.0

    def rolling_start(self, now: datetime) -> datetime:
        """Where refreshes start: the rolling window (B2), never before the configured start date."""
        return max(self.start_date, now - timedelta(days=self.rolling_window_days))

    def deletes_start(self, now: datetime) -> datetime:
        """Where the first run reads the delete feed from: Marketo prunes delete activities after about 14
        days, so scanning years of its log block by block would cost calls and find nothing."""
        return max(self.start_date, now - timedelta(days=self.deletes_lookback_days))


def _as_list(value: str | list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def parse_date(value: str, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise LoaderError(
            f"{what} must be an ISO date like 2018-01-01 or 2018-01-01T00:00:00Z; got {value!r}"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@with_config(sections=("sources", "marketo"))
def _resolve(
    base_url: str = dlt.config.value,
    client_id: str = dlt.secrets.value,
    client_secret: str = dlt.secrets.value,
    start_date: str | None = None,
    rolling_window_days: int = 730,
    window_days: int = 31,
    lookback_minutes: int = 60,
    filter_field: str = "updatedAt",
    extra_fields: str | list[str] | None = None,
    company_fields: str | list[str] | None = None,
    company_refresh_days: float = 7.0,
    full_refresh_days: float = 7.0,
    poll_interval_seconds: float = 60.0,
    job_timeout_seconds: float = 3 * 3600.0,
    deletes_lookback_days: float = 30.0,
    max_calls_per_20s: int = 100,
    max_concurrent_calls: int = 10,
    retry_attempts: int = 8,
    backoff_base_seconds: float = 1.0,
    rate_window_seconds: float = 20.0,
) -> MarketoSettings:
    now = datetime.now(UTC).replace(microsecond=0)
    if not 1 <= int(window_days) <= 31:
        raise LoaderError(f"sources.marketo.window_days must be 1..31 (Marketo's bulk export limit); got {window_days}")
    if filter_field not in ("updatedAt", "createdAt"):
        raise LoaderError(f"sources.marketo.filter_field must be updatedAt or createdAt; got {filter_field!r}")
    start = (
        parse_date(start_date, "sources.marketo.start_date")
        if start_date
        else now - timedelta(days=int(rolling_window_days))
    )
    return MarketoSettings(
        base_url=base_url,
        client_id=client_id,
        client_secret=client_secret,
        start_date=start,
        rolling_window_days=int(rolling_window_days),
        window_days=int(window_days),
        lookback_minutes=int(lookback_minutes),
        filter_field=filter_field,
        extra_fields=_as_list(extra_fields) if extra_fields is not None else list(DEFAULT_EXTRA_FIELDS),
        company_fields=_as_list(company_fields) if company_fields is not None else list(DEFAULT_COMPANY_FIELDS),
        company_refresh_days=float(company_refresh_days),
        full_refresh_days=float(full_refresh_days),
        poll_interval_seconds=float(poll_interval_seconds),
        job_timeout_seconds=float(job_timeout_seconds),
        deletes_lookback_days=float(deletes_lookback_days),
        max_calls_per_20s=int(max_calls_per_20s),
        max_concurrent_calls=int(max_concurrent_calls),
        retry_attempts=int(retry_attempts),
        backoff_base_seconds=float(backoff_base_seconds),
        rate_window_seconds=float(rate_window_seconds),
    )


def load_settings(**overrides) -> MarketoSettings:
    """Settings from dlt config; keyword overrides (from CLI flags) win when not None."""
    try:
        return _resolve(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigFieldMissingException as exc:
        missing = ", ".join(f"SOURCES__MARKETO__{f.upper()}" for f in exc.fields)
        raise LoaderError(
            f"Marketo is not configured: set {missing} (env vars), or put them under [sources.marketo] "
            "in .dlt/config.toml and .dlt/secrets.toml (see .dlt/example.secrets.toml)."
        ) from None
