"""Settings: one pydantic-settings object, every knob with an environment variable.

Build it through :func:`get_settings` (cached) inside the app's lifespan or a command, never at
import time, so tests can swap it with ``get_settings.cache_clear()`` and new variables.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class SettingsError(ValueError):
    """A setting has a value Nuanliu cannot use; the message is one line for a person."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Storage and bus
    database_url: str = Field(default="sqlite:///data/nuanliu.db", alias="DATABASE_URL")
    kafka_bootstrap_servers: str | None = Field(default=None, alias="KAFKA_BOOTSTRAP_SERVERS")
    topic_prefix: str = Field(default="nuanliu.", alias="NUANLIU_TOPIC_PREFIX")
    broker_connect_timeout_s: float = Field(default=10.0, alias="NUANLIU_BROKER_CONNECT_TIMEOUT")
    #: a broker that accepts connections but does not answer (paused, overloaded) is waited
    #: for this long at start before giving up; nothing listening fails after the above
    broker_stall_timeout_s: float = Field(default=300.0, alias="NUANLIU_BROKER_STALL_TIMEOUT")
    # Consumer group tuning: a join takes about half the session timeout, so keep it short.
    consumer_session_timeout_ms: int = Field(default=6000, alias="NUANLIU_SESSION_TIMEOUT_MS")
    consumer_heartbeat_ms: int = Field(default=1000, alias="NUANLIU_HEARTBEAT_MS")
    fetch_max_wait_ms: int = Field(default=100, alias="NUANLIU_FETCH_WAIT_MS")
    max_event_bytes: int = Field(default=256 * 1024, alias="NUANLIU_MAX_EVENT_BYTES")
    #: seconds a request waits for a database connection before it is answered 503
    db_pool_timeout_s: float = Field(default=5.0, alias="NUANLIU_DB_POOL_TIMEOUT")
    relay_batch_size: int = Field(default=500, alias="NUANLIU_RELAY_BATCH")
    relay_idle_s: float = Field(default=0.2, alias="NUANLIU_RELAY_IDLE")

    # Web
    host: str = Field(default="127.0.0.1", alias="NUANLIU_HOST")
    port: int = Field(default=8000, alias="NUANLIU_PORT")
    #: the address people reach Nuanliu at (`https://nuanliu.example.org`): the sign-up
    #: posters' QR codes point there; unset, a page uses the address it was asked at
    public_base_url: str | None = Field(default=None, alias="NUANLIU_PUBLIC_URL")
    admin_token: SecretStr | None = Field(default=None, alias="NUANLIU_ADMIN_TOKEN")
    session_secret: SecretStr | None = Field(default=None, alias="NUANLIU_SESSION_SECRET")

    # SMS
    sms_gateway: Literal["console", "twilio", "aliyun", "tencent"] = Field(
        default="console", alias="NUANLIU_SMS_GATEWAY"
    )
    #: the console gateway appends every message here as a JSON line with the full number
    #: (the simulated phones' inbox; logs mask numbers); unset: nowhere
    console_sms_file: Path | None = Field(default=None, alias="NUANLIU_CONSOLE_SMS_FILE")
    twilio_account_sid: str | None = Field(default=None, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: SecretStr | None = Field(default=None, alias="TWILIO_AUTH_TOKEN")
    twilio_from: str | None = Field(default=None, alias="TWILIO_FROM")
    twilio_api_base: str = Field(default="https://api.twilio.com", alias="TWILIO_API_BASE")
    # Chinese providers: every text is an approved template (codes in NUANLIU_SMS_TEMPLATES)
    #: TOML: message kind → provider → approved template code (`nuanliu sms templates --toml`)
    sms_templates: Path | None = Field(default=None, alias="NUANLIU_SMS_TEMPLATES")
    aliyun_access_key_id: str | None = Field(default=None, alias="ALIYUN_ACCESS_KEY_ID")
    aliyun_access_key_secret: SecretStr | None = Field(
        default=None, alias="ALIYUN_ACCESS_KEY_SECRET"
    )
    aliyun_sms_sign_name: str | None = Field(default=None, alias="ALIYUN_SMS_SIGN_NAME")
    #: host[:port]; HTTPS, except a loopback host (a test server), which is plain HTTP
    aliyun_sms_endpoint: str = Field(default="dysmsapi.aliyuncs.com", alias="ALIYUN_SMS_ENDPOINT")
    tencentcloud_secret_id: str | None = Field(default=None, alias="TENCENTCLOUD_SECRET_ID")
    tencentcloud_secret_key: SecretStr | None = Field(default=None, alias="TENCENTCLOUD_SECRET_KEY")
    tencent_sms_app_id: str | None = Field(default=None, alias="TENCENT_SMS_APP_ID")
    tencent_sms_sign_name: str | None = Field(default=None, alias="TENCENT_SMS_SIGN_NAME")
    tencent_sms_endpoint: str = Field(
        default="sms.tencentcloudapi.com", alias="TENCENT_SMS_ENDPOINT"
    )
    tencent_sms_region: str = Field(default="ap-guangzhou", alias="TENCENT_SMS_REGION")
    #: sends per second per provider account (a token bucket in the sending process); the
    #: providers throttle beyond their limit, and a throttled text waits to be tried again
    sms_qps: float = Field(default=50.0, gt=0, alias="NUANLIU_SMS_QPS")
    #: texts a provider's sender claims at a time: a crash leaves at most this many "unknown"
    #: (claimed, fate not recorded; never resent), so 1 unless the rate matters more
    sms_claim_batch: int = Field(default=1, ge=1, le=500, alias="NUANLIU_SMS_CLAIM")
    #: tries of one text a provider refused for now (throttling, a transient error) before it
    #: is marked failed; each waits longer (exponential backoff, from `sms_retry_base_s`)
    sms_send_attempts: int = Field(default=5, ge=1, le=20, alias="NUANLIU_SMS_SEND_ATTEMPTS")
    sms_retry_base_s: float = Field(default=0.5, ge=0, alias="NUANLIU_SMS_RETRY_BASE")
    #: seconds to wait for a provider's answer; after that the text's fate is unknown
    sms_timeout_s: float = Field(default=10.0, gt=0, alias="NUANLIU_SMS_TIMEOUT")
    #: the secret path segment of the providers' push URLs
    #: (`/webhooks/sms/aliyun/{token}`, `/webhooks/sms/tencent/{token}`); unset: they are off
    sms_webhook_token: SecretStr | None = Field(default=None, alias="NUANLIU_SMS_WEBHOOK_TOKEN")
    #: automatic answers (help text, unknown number, opted out) per number per hour; beyond
    #: it texts are still stored and acted on but not answered, so an auto-responder on the
    #: other end cannot ping-pong with ours
    auto_answer_limit: int = Field(default=3, ge=0, alias="NUANLIU_AUTO_ANSWER_LIMIT")

    # Joining by the public sign-up page (issue 15): the phone is confirmed by a one-time SMS
    # code, and a flood of code requests is refused per number and per client address. The
    # counts are rows in the database (`join_codes`), so they hold across API processes.
    #: how long a code may be used, and how many wrong tries it takes before it is spent
    join_code_lifetime: timedelta = Field(
        default=timedelta(minutes=10), gt=timedelta(0), alias="NUANLIU_JOIN_CODE_LIFETIME"
    )
    join_code_attempts: int = Field(default=5, ge=1, alias="NUANLIU_JOIN_CODE_ATTEMPTS")
    #: one code per number per this long, and at most so many per number in 24 hours
    join_code_interval: timedelta = Field(
        default=timedelta(seconds=60), ge=timedelta(0), alias="NUANLIU_JOIN_CODE_INTERVAL"
    )
    join_codes_per_phone_day: int = Field(default=5, ge=1, alias="NUANLIU_JOIN_CODES_PER_DAY")
    #: codes asked for from one client address per hour (any numbers)
    join_codes_per_address_hour: int = Field(
        default=10, ge=1, alias="NUANLIU_JOIN_CODES_PER_ADDRESS"
    )

    # Dispatch
    offer_timeout: timedelta = Field(default=timedelta(minutes=10), alias="NUANLIU_OFFER_TIMEOUT")
    reminder_before: timedelta = Field(default=timedelta(hours=1), alias="NUANLIU_REMINDER_BEFORE")
    #: how long before its window opens a volunteer may check in (hours count from the
    #: window's start all the same)
    check_in_early: timedelta = Field(default=timedelta(hours=1), alias="NUANLIU_CHECK_IN_EARLY")
    #: how far past the window's end a check-out still counts; hours never exceed the window
    #: plus this (`nuanliu check` says so)
    hours_tolerance: timedelta = Field(
        default=timedelta(minutes=30), ge=timedelta(0), alias="NUANLIU_HOURS_TOLERANCE"
    )
    #: an accepted volunteer not checked in this long after the start gets one SMS ...
    no_show_remind_after: timedelta = Field(
        default=timedelta(minutes=30), alias="NUANLIU_NO_SHOW_REMIND_AFTER"
    )
    #: ... and this long after it their slot is offered to the next best volunteer
    no_show_after: timedelta = Field(default=timedelta(minutes=45), alias="NUANLIU_NO_SHOW_AFTER")
    # The travel-rush rota (issue 15): a shift may be given back until this long before it
    # starts (later, the volunteer is told to call the dispatcher) ...
    rota_give_back_notice: timedelta = Field(
        default=timedelta(hours=24), ge=timedelta(0), alias="NUANLIU_ROTA_GIVE_BACK_NOTICE"
    )
    #: ... the rota page's sign-in code by SMS: how long it is good for, how many wrong
    #: tries kill it, how many may be asked for per number and per client address an hour,
    #: and how long the volunteer stays signed in
    rota_code_ttl: timedelta = Field(default=timedelta(minutes=10), alias="NUANLIU_ROTA_CODE_TTL")
    rota_code_attempts: int = Field(default=5, ge=1, alias="NUANLIU_ROTA_CODE_ATTEMPTS")
    rota_codes_per_phone: int = Field(default=3, ge=1, alias="NUANLIU_ROTA_CODES_PER_PHONE")
    rota_codes_per_address: int = Field(default=20, ge=1, alias="NUANLIU_ROTA_CODES_PER_ADDRESS")
    rota_session_lifetime: timedelta = Field(
        default=timedelta(hours=12), alias="NUANLIU_ROTA_SESSION_LIFETIME"
    )
    cap_feeds: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="NUANLIU_CAP_FEEDS"
    )
    cap_poll_interval_s: int = Field(default=300, alias="NUANLIU_CAP_POLL_INTERVAL")
    max_body_bytes: int = Field(default=1024 * 1024, ge=0, alias="NUANLIU_MAX_BODY_BYTES")
    #: a roster file may be larger than any other body: 20,000 rows are about 1.5 MB of CSV
    import_max_bytes: int = Field(default=16 * 1024 * 1024, ge=0, alias="NUANLIU_IMPORT_MAX_BYTES")
    #: the same JSON alert (same sender, kind, level, districts, headline and window) posted
    #: again within this time without an Idempotency-Key is answered with the first; 0: never
    alert_dedupe_window: timedelta = Field(
        default=timedelta(minutes=5), ge=timedelta(0), alias="NUANLIU_ALERT_DEDUPE_WINDOW"
    )
    #: the repair sweep touches only work older than this (the normal path may still be on
    #: it: an event in the relay, a refill on its way), every `repair_interval_s`
    repair_grace: timedelta = Field(default=timedelta(minutes=2), alias="NUANLIU_REPAIR_GRACE")
    repair_interval_s: int = Field(default=60, alias="NUANLIU_REPAIR_INTERVAL")

    # Travel rush window around Lunar New Year (announced yearly, so configurable)
    travel_rush_days_before: int = Field(default=15, alias="NUANLIU_RUSH_DAYS_BEFORE")
    travel_rush_length_days: int = Field(default=40, alias="NUANLIU_RUSH_LENGTH_DAYS")
    timezone: str = Field(default="Asia/Shanghai", alias="NUANLIU_TIMEZONE")

    #: the CJK font the reports' PDFs and charts are set in (Debian's fonts-wqy-microhei; a
    #: .ttc is read at its first face)
    report_font: Path = Field(
        default=Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), alias="NUANLIU_REPORT_FONT"
    )

    #: the organisation that records volunteer service and issues its certificates
    #: (志愿服务证明 under 《志愿服务记录与证明出具办法（试行）》): printed on each certificate,
    #: confirmed by `/verify/{serial}`, the 记录单位 column of the service-record export
    organisation_name: str = Field(
        default="暖流志愿服务队", min_length=1, max_length=60, alias="NUANLIU_ORGANISATION_NAME"
    )

    # Logistics: approve supply plans as soon as they are made (else a dispatcher approves)
    plan_auto_approve: bool = Field(default=False, alias="NUANLIU_PLAN_AUTO_APPROVE")

    # Runtime toggles (tests turn parts off)
    run_scheduler: bool = Field(default=True, alias="NUANLIU_RUN_SCHEDULER")
    data_dir: Path = Field(default=Path("data"), alias="NUANLIU_DATA_DIR")

    # Durability: how a process stops, and what the outbox and the embedded broker keep
    #: after SIGTERM/SIGINT, how long the relay, consumers and SMS sender may finish the work
    #: in hand before the broker stops (a second signal cuts it short)
    shutdown_grace_s: float = Field(default=15.0, alias="NUANLIU_SHUTDOWN_GRACE")
    #: how often the outbox keeper settles applied events, prunes and checks the broker
    keeper_interval_s: float = Field(default=30.0, alias="NUANLIU_KEEPER_INTERVAL")
    #: settled outbox rows are kept this long (the checker and the board read recent history)
    outbox_retention: timedelta = Field(
        default=timedelta(days=30), alias="NUANLIU_OUTBOX_RETENTION"
    )
    #: the embedded broker is restarted empty once its memory passes this and every consumer
    #: has applied what it holds (it keeps every event in memory and cannot delete records)
    broker_max_rss_mb: int = Field(default=256, alias="NUANLIU_BROKER_MAX_RSS_MB")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise SettingsError(f"DATABASE_URL is not a database URL: {value!r}") from exc
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            raise SettingsError(
                f"DATABASE_URL must be sqlite:// or postgresql://, got {url.get_backend_name()!r}"
            )
        return value

    @field_validator("cap_feeds", mode="before")
    @classmethod
    def _split_feeds(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(",", " ").split() if part.strip()]
        return value

    @field_validator("aliyun_sms_endpoint", "tencent_sms_endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        endpoint_url(value)  # raises SettingsError with the reason
        return value

    @field_validator("sms_webhook_token")
    @classmethod
    def _check_webhook_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise SettingsError("NUANLIU_SMS_WEBHOOK_TOKEN must be at least 16 characters")
        return value

    @field_validator("console_sms_file", "sms_templates", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def sqlalchemy_url(self) -> str:
        """The URL with the driver SQLAlchemy should use (psycopg 3 for PostgreSQL)."""
        url = make_url(self.database_url)
        if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"

    @property
    def embedded_broker(self) -> bool:
        return not self.kafka_bootstrap_servers


_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def endpoint_url(endpoint: str) -> str:
    """The base URL of a provider endpoint given as `host[:port]`: HTTPS, except for a
    loopback host (a test server standing in for the provider), which is plain HTTP. An
    explicit `https://` is accepted; `http://` only for a loopback host. Raises SettingsError."""
    value = endpoint.strip().rstrip("/")
    scheme = None
    if "://" in value:
        scheme, _, value = value.partition("://")
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise SettingsError(f"SMS endpoint {endpoint!r}: only host[:port] or https://host")
    if not value or "/" in value or "?" in value or "@" in value:
        raise SettingsError(f"SMS endpoint {endpoint!r} must be host[:port]")
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    if value.startswith("["):  # [::1]:8080
        host, _, port = value[1:].partition("]")
        port = port.lstrip(":")
    if port and not port.isdigit():
        raise SettingsError(f"SMS endpoint {endpoint!r}: the port must be a number")
    loopback = host.lower() in _LOOPBACK
    if scheme == "http" and not loopback:
        raise SettingsError(f"SMS endpoint {endpoint!r}: plain HTTP only to a loopback test server")
    return f"{scheme or ('http' if loopback else 'https')}://{value}"


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once from the environment (and `.env`)."""
    return Settings()
