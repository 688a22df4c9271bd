"""Circulus settings: everything comes from the environment (12-factor).

Defaults give the embedded setup: SQLite under var/, Celery tasks run eagerly in-process.
A `.env` file beside manage.py (written by `make demo`) fills in what the environment leaves
unset; `CIRCULUS_ENV_FILE` names another file, or none when empty.
"""

import os
import sys
from datetime import date
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from circulus import queues

BASE_DIR = Path(__file__).resolve().parent.parent


def load_env_file(path: Path) -> None:
    """Set KEY=VALUE lines from `path` that the environment does not set already."""
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(key.strip(), value)


_env_file = os.environ.get("CIRCULUS_ENV_FILE", str(BASE_DIR / ".env"))
if _env_file:
    load_env_file(Path(_env_file))

VAR_DIR = Path(os.environ.get("CIRCULUS_VAR_DIR", BASE_DIR / "var"))
OUT_DIR = Path(os.environ.get("CIRCULUS_OUT_DIR", BASE_DIR / "out"))
# The user docs served at /docs/<name>/ (not part of the Python package; the image copies them).
DOCS_DIR = Path(os.environ.get("CIRCULUS_DOCS_DIR", BASE_DIR / "docs"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    # pytest sets PYTEST_VERSION; test runs use a throwaway key.
    if not DEBUG and not os.environ.get("PYTEST_VERSION"):
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off: set SECRET_KEY (and ALLOWED_HOSTS) in "
            "the environment for production, or run `make demo` to write a development .env."
        )
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served locally, no CDN
    "simple_history",
    "import_export",
    "hardware",
    "registry",
    "reporting",
    "reporting.exports",
    "accounts",
    "connectors",
    "csp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (admin, Swagger UI) straight from gunicorn: no separate web server needed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "circulus.api.reject_nul_in_url",
    # 400 naming any query parameter given empty under /api/.
    "circulus.api.RefuseEmptyQueryParameters",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # 429 for admin sign-ins while the IP or account is over its failure limit.
    "accounts.middleware.LoginThrottleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Records the request user on every history row written during a request.
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "circulus.urls"
WSGI_APPLICATION = "circulus.wsgi.application"
ASGI_APPLICATION = "circulus.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "circulus" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Schema changes and grants run as the tables' owner (DATABASE_MIGRATE_URL); everything else
# connects as the application's least-privilege role (DATABASE_URL), which cannot truncate, alter
# or rewrite the ledger. Unset, both are DATABASE_URL. Archiving readings detaches and drops
# (and restoring attaches) partitions: the owner's work too.
MIGRATION_COMMANDS = {"migrate", "grant_app_role", "archive_readings"}


def database_url(argv: list[str], environ) -> str:
    url = environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'circulus.sqlite3'}")
    if len(argv) > 1 and argv[1] in MIGRATION_COMMANDS:
        return environ.get("DATABASE_MIGRATE_URL") or url
    return url


DATABASES = {
    "default": dj_database_url.parse(
        database_url(sys.argv, os.environ),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database host that does not answer fails a connection within seconds (503 on the web,
    # a worker that refuses to start), rather than after the operating system's minutes.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = int(
        os.environ.get("DATABASE_CONNECT_TIMEOUT", "5")
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL + a busy timeout let the dev server and an eager task share the embedded file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# The front door's stylesheet: `circulus` is the project package, not an installed app, so the
# app-directories finder never looks in circulus/static.
STATICFILES_DIRS = [BASE_DIR / "circulus" / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
# Mail (the expiry digests): through EMAIL_HOST when it is set, else written to the console.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 30
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Circulus <circulus@localhost>")
# The address people reach Circulus at (https://circulus.example.org): asset labels' QR codes
# point there. Unset, a label points at the address its request came in on.
CIRCULUS_PUBLIC_URL = os.environ.get("CIRCULUS_PUBLIC_URL", "")
WHITENOISE_USE_FINDERS = DEBUG  # dev: serve app static files without collectstatic
if DEBUG or os.environ.get("PYTEST_VERSION"):
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- Input bounds (circulus/bounds.py; each documented in docs/operations.md) ---
# The time window of every recorded instant: none before the floor, none later than now plus
# the clock skew. Uploads beyond their size limit are answered 413 before they are read.
INPUT_TIME_FLOOR = date.fromisoformat(os.environ.get("INPUT_TIME_FLOOR", "1990-01-01"))
INPUT_CLOCK_SKEW_SECONDS = int(os.environ.get("INPUT_CLOCK_SKEW_SECONDS", "900"))
READINGS_UPLOAD_MAX_BYTES = int(os.environ.get("READINGS_UPLOAD_MAX_MB", "512")) * 1024 * 1024
IMPORT_UPLOAD_MAX_BYTES = int(os.environ.get("IMPORT_UPLOAD_MAX_MB", "50")) * 1024 * 1024
# An asset import larger than this runs as a background job with progress, not in the request.
IMPORT_SYNC_MAX_BYTES = int(os.environ.get("IMPORT_SYNC_MAX_KB", "2048")) * 1024
# An audit close with more units seen than this is recorded by a worker, not in the request: each
# unit costs about 0.13 s through the ledger's rules (13.4 s for 101 units on PostgreSQL), and the
# web server gives a request 60 s (docs/registry-admin.md).
AUDIT_CLOSE_INLINE_MAX = int(os.environ.get("AUDIT_CLOSE_INLINE_MAX", "100"))
IMPORT_MAX_COLUMNS = int(os.environ.get("IMPORT_MAX_COLUMNS", "200"))
IMPORT_MAX_CELLS = int(os.environ.get("IMPORT_MAX_CELLS", "5000000"))
XLSX_MAX_UNPACKED_BYTES = int(os.environ.get("XLSX_MAX_UNPACKED_MB", "256")) * 1024 * 1024
# Files waiting under MEDIA_ROOT/imports longer than this are left by a crash: the beat deletes
# them hourly. A failed asset import job not retried within this time is given up (its file too).
IMPORT_FILE_MAX_AGE_SECONDS = int(os.environ.get("IMPORT_FILE_MAX_AGE_SECONDS", "86400"))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"

# --- Security (production defaults; `manage.py check --deploy` passes with DEBUG off) ---
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

# --- Sign-in throttling: (failures, window in seconds) per client IP and per account ---
AUTH_FAILURE_LIMITS = {
    "login": {
        "ip": (int(os.environ.get("LOGIN_FAILURES_PER_IP", "20")), 900),
        "account": (int(os.environ.get("LOGIN_FAILURES_PER_ACCOUNT", "5")), 900),
    },
    "token": {"ip": (int(os.environ.get("TOKEN_FAILURES_PER_IP", "20")), 900)},
}
# API tokens expire this many days after they are issued (0: never); `create_api_token --days`.
API_TOKEN_DAYS = int(os.environ.get("API_TOKEN_DAYS", "365"))
# The client address is REMOTE_ADDR, which a client cannot choose. Behind N reverse proxies that
# each append to X-Forwarded-For, set TRUSTED_PROXY_COUNT=N: the address is then the N-th entry
# from the right, the one the outermost trusted proxy saw. Left at 0, X-Forwarded-For is ignored.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
# The counts must be shared by every web process: a Redis cache when CACHE_URL is set.
if os.environ.get("CACHE_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["CACHE_URL"],
        }
    }

# --- Content-Security-Policy: no inline script anywhere (the admin and the split Swagger view
# load scripts from our own origin); inline styles stay allowed for the admin's widgets and SVG.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        # One inline handler allowed by its hash: django-import-export's "select all fields"
        # toggle on the admin's export page (onchange="onSelectToggleChange(event)").
        "script-src": [
            "'self'",
            "'unsafe-hashes'",
            "'sha256-wid4zL8fR53ZYy1ljOepzR77Dn6vWUUxuNnnWWBP3I8='",
        ],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- REST API ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so an anonymous call gets 401 with `WWW-Authenticate: Token` (DRF asks the
        # first class for the header), not a bare 403.
        "accounts.authentication.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "circulus.filters.FilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    # Guarded JSON parser: no nesting bomb or NUL character gets past it to the database.
    "DEFAULT_PARSER_CLASSES": [
        "circulus.api.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "circulus.schema.AutoSchema",
    "EXCEPTION_HANDLER": "circulus.api.exception_handler",
    # DRF's throttles name the client as accounts.throttling.client_ip does.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Circulus API",
    "DESCRIPTION": (
        "Data-centre reporting (EU Delegated Regulation 2024/1364) and circular-economy "
        "registry of hardware models, assets and their lifecycle."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    # The API speaks JSON (and CSV for readings): form bodies are still read, as the browsable
    # API sends them, but not offered, because a form turns an empty field into null.
    "PARSER_WHITELIST": [
        "circulus.api.JSONParser",
        "rest_framework.parsers.JSONParser",
        "reporting.api.views.CSVParser",
    ],
    # One schema name per choice set, so clients get stable enum types.
    "ENUM_NAME_OVERRIDES": {
        "LifecycleStateEnum": "registry.lifecycle.State",
        "EventKindEnum": "registry.lifecycle.EventKind",
        "HardwareKindEnum": "hardware.models.HardwareKind",
        "WorkloadEnum": "registry.lifecycle.Workload",
        "ExportKindEnum": "reporting.exports.models.ExportKind",
        "PurchaseStateEnum": [("ordered", "ordered"), ("in-stock", "in-stock")],
        # a reuse candidate's basis and energy_basis
        "FigureBasisEnum": [("measured", "measured"), ("estimated", "estimated")],
        # a reuse candidate's faster_than_new and pays_back_in_horizon
        "RangeVerdictEnum": [("yes", "yes"), ("no", "no"), ("uncertain", "uncertain")],
        "AuditStatusEnum": "registry.models.AuditStatus",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery: no broker configured means tasks run eagerly in-process (embedded default) ---
CELERY_TASK_ALWAYS_EAGER = not os.environ.get("CELERY_BROKER_URL")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://localhost/"
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Queues per kind of work (circulus/queues.py): `make worker QUEUES=ingest` serves one of them.
CELERY_QUEUE_PREFIX = os.environ.get("CELERY_QUEUE_PREFIX", "")
CELERY_TASK_DEFAULT_QUEUE = queues.name(queues.DEFAULT, CELERY_QUEUE_PREFIX)
CELERY_TASK_QUEUES = queues.queues(CELERY_QUEUE_PREFIX)
CELERY_TASK_ROUTES = queues.routes(CELERY_QUEUE_PREFIX)
# The worker and queue of each task are kept with its result: operators see where a job ran.
CELERY_RESULT_EXTENDED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 7 * 24 * 3600
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}
# Every job (ingest, compute, export, pull, asset import) follows circulus.jobs: a running job
# beats its heartbeat every JOB_HEARTBEAT_SECONDS; the reaper fails (retryable) one silent for
# JOB_STALE_SECONDS, and a queued one that no worker started within JOB_QUEUED_STALE_SECONDS.
JOB_HEARTBEAT_SECONDS = int(os.environ.get("JOB_HEARTBEAT_SECONDS", "15"))
JOB_STALE_SECONDS = int(os.environ.get("JOB_STALE_SECONDS", "120"))
JOB_QUEUED_STALE_SECONDS = int(os.environ.get("JOB_QUEUED_STALE_SECONDS", "1800"))
CELERY_BEAT_SCHEDULE["jobs-reap-stale"] = {
    "task": "reporting.reap_stale_jobs",
    "schedule": float(os.environ.get("JOB_REAP_EVERY_SECONDS", "60")),
}
# The longest job (a 5-million-row ingest, a 1-million-asset export) ends well within this; the
# broker redelivers an unacknowledged message only after it, so a running job's message is
# never handed to a second worker while the first still works (a dead worker's job is failed
# by the reaper within minutes and retried; its late redelivery then finds nothing to claim).
JOB_MAX_SECONDS = int(os.environ.get("JOB_MAX_SECONDS", str(4 * 3600)))
# A web process that cannot reach the broker says so within seconds (503, job failed), never
# holding a gunicorn worker while it retries: short connection timeouts, one quick retry.
BROKER_CONNECT_SECONDS = float(os.environ.get("CELERY_BROKER_CONNECTION_TIMEOUT", "2"))
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_CONNECT_SECONDS
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": JOB_MAX_SECONDS + 600,
    "socket_connect_timeout": BROKER_CONNECT_SECONDS,
    "max_retries": 1,
}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = BROKER_CONNECT_SECONDS
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}
# Daily: each operator's digest of warranties, support and planned ends of life coming up, each
# date told once at each of these many days before it.
EXPIRY_ALERT_DAYS = [int(d) for d in env_list("EXPIRY_ALERT_DAYS", "90,60,30")]
CELERY_BEAT_SCHEDULE["registry-send-expiry-digests"] = {
    "task": "registry.send_expiry_digests",
    "schedule": crontab(hour=7, minute=0),
}
# Webhooks: due deliveries are swept this often (each event also sends at once); a delivery is
# given up after this many attempts, the waits doubling from 30 s to at most an hour (~9 hours).
WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_MAX_ATTEMPTS", "15"))
CELERY_BEAT_SCHEDULE["registry-deliver-webhooks"] = {
    "task": "registry.deliver_webhooks",
    "schedule": float(os.environ.get("WEBHOOK_SWEEP_SECONDS", "30")),
}
# Hourly: uploads waiting under MEDIA_ROOT/imports past IMPORT_FILE_MAX_AGE_SECONDS are removed,
# with the files of finished asset import jobs and of failed ones given up.
CELERY_BEAT_SCHEDULE["registry-remove-stale-import-files"] = {
    "task": "registry.remove_stale_import_files",
    "schedule": crontab(minute=20),
}
# Hourly: an audit a worker was asked to close and did not within JOB_MAX_SECONDS (a worker killed,
# a message lost) is opened again, saying so; nothing of it was recorded (one transaction).
CELERY_BEAT_SCHEDULE["registry-reopen-lost-audit-closes"] = {
    "task": "registry.reopen_lost_audit_closes",
    "schedule": crontab(minute=35),
}
# Hourly: the stored readings files of finished ingest jobs (failed ones keep theirs to retry).
CELERY_BEAT_SCHEDULE["reporting-remove-finished-uploads"] = {
    "task": "reporting.remove_finished_uploads",
    "schedule": crontab(minute=25),
}
# Daily: saved reports whose weekly or monthly day is today are run and e-mailed.
CELERY_BEAT_SCHEDULE["exports-send-scheduled-reports"] = {
    "task": "exports.send_scheduled_reports",
    "schedule": crontab(hour=6, minute=0),
}
# Nightly: recompute every draft reporting period from the readings that arrived that day.
CELERY_BEAT_SCHEDULE["reporting-refresh-open-periods"] = {
    "task": "reporting.refresh_open_periods",
    "schedule": crontab(hour=2, minute=30),
}
# compute_year fans out batches of this many sites per task: each batch is computed with a
# constant number of queries (reporting.computation.compute_many); several batches keep every
# compute worker busy. 200 sites → 8 tasks.
COMPUTE_YEAR_BATCH_SITES = int(os.environ.get("COMPUTE_YEAR_BATCH_SITES", "25"))
# PostgreSQL: the readings' monthly partitions (reporting/partitions.py) are created this many
# months ahead, daily; `archive_readings` writes detached years as Parquet into the archive dir.
READING_PARTITIONS_AHEAD_MONTHS = int(os.environ.get("READING_PARTITIONS_AHEAD_MONTHS", "3"))
CELERY_BEAT_SCHEDULE["reporting-ensure-reading-partitions"] = {
    "task": "reporting.ensure_reading_partitions",
    "schedule": crontab(hour=1, minute=15),
}
READINGS_ARCHIVE_DIR = Path(
    os.environ.get("CIRCULUS_READINGS_ARCHIVE_DIR", VAR_DIR / "readings-archive")
)

# Connectors (docs/connectors.md): credentials are encrypted with the first of these Fernet keys
# (comma-separated; the others still decrypt, for rotation). Unset: derived from SECRET_KEY.
CONNECTOR_KEYS = env_list("CIRCULUS_CONNECTOR_KEYS")
# The account every synced ledger row is recorded by (created on first use, no password).
CONNECTOR_ACTOR_USERNAME = os.environ.get("CONNECTOR_ACTOR_USERNAME", "inventory-sync")
CONNECTOR_MAX_ATTEMPTS = int(os.environ.get("CONNECTOR_MAX_ATTEMPTS", "4"))
CONNECTOR_RETRY_MINUTES = int(os.environ.get("CONNECTOR_RETRY_MINUTES", "1"))
CONNECTOR_BACKFILL_HOURS = int(os.environ.get("CONNECTOR_BACKFILL_HOURS", "24"))
CELERY_BEAT_SCHEDULE["connectors-pull-due"] = {
    "task": "connectors.pull_due",
    "schedule": float(os.environ.get("CONNECTOR_TICK_SECONDS", "60")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "celery.app.trace": {"level": os.environ.get("CELERY_TRACE_LOG_LEVEL", "WARNING")},
    },
}
