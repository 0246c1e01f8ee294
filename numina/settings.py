"""Numina's one settings file, driven by the environment (django-environ).

Defaults serve development: with no DATABASE_URL and no REDIS_URL the whole product runs
on one machine (SQLite in var/, local-memory cache, Celery tasks run in-process after
commit). Production sets the variables listed in .env.example.
"""

from datetime import timedelta
from pathlib import Path

import environ
import orjson
from django_guid.integrations import CeleryIntegration

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# The web refuses to serve with this key while DEBUG is off (numina/startup.py); commands
# that sign nothing (makemigrations, migrate, collectstatic) still run without one.
DEV_SECRET_KEY = "numina-development-only-secret-key-change-me"  # noqa: S105 (published on purpose, refused in production)
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "django_htmx",
    "django_prometheus",
    "django_guid",
    "accounts",
    "conversations",
    "memory",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_guid.middleware.guid_middleware",
    "numina.middleware.ServerTimingMiddleware",
    "numina.middleware.StatementTimeoutMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "numina.middleware.StaticFilesMiddleware",  # WhiteNoise
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "numina.urls"
WSGI_APPLICATION = "numina.wsgi.application"
ASGI_APPLICATION = "numina.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- Database -------------------------------------------------------------------------
# Persistent connections are on by default: opening a PostgreSQL connection per request
# costs several times the request itself on this class of machine.
CONN_MAX_AGE = env.int("CONN_MAX_AGE", default=600)
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
else:
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "numina.sqlite3"}
    }
# django-prometheus' wrappers of the same backends count queries and errors for /metrics.
DATABASES["default"]["ENGINE"] = DATABASES["default"]["ENGINE"].replace(
    "django.db.backends.", "django_prometheus.db.backends."
)
DATABASES["default"]["CONN_MAX_AGE"] = CONN_MAX_AGE
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Milliseconds one statement of a web request may run (0: no limit); the web only, not
# migrations, commands or the worker (numina/startup.py).
NUMINA_STATEMENT_TIMEOUT_MS = env.int("NUMINA_STATEMENT_TIMEOUT_MS", default=10_000)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Cache and broker -----------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Redis is a cache and the throttles' buckets here, never the store: fail fast and fall
# back (to PostgreSQL, or to not counting) instead of holding a request.
REDIS_CONNECT_TIMEOUT = env.float("REDIS_CONNECT_TIMEOUT", default=0.25)
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=0.25)
if REDIS_URL:
    CACHES = {
        "default": {
            # django-redis, with django-prometheus counting gets, hits and misses.
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "numina",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # Redis is a cache here, never the store: fail fast and fall back to
                # PostgreSQL instead of holding a request while Redis is unreachable.
                "SOCKET_CONNECT_TIMEOUT": REDIS_CONNECT_TIMEOUT,
                "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    CACHES = {"default": {"BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
# Without a broker the tasks run in-process (they are enqueued after commit), so the
# embedded default still produces titles and summaries.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # Enqueueing happens in the web request after commit: a broker out of reach must fail
    # fast there (the beat sweeper enqueues the work again later), not hang the request.
    "socket_connect_timeout": env.float("CELERY_BROKER_CONNECT_TIMEOUT", default=2.0),
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}

# --- Sessions, auth, security ---------------------------------------------------------
SESSION_ENGINE = "django.contrib.sessions.backends.db"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# HTTPS hardening is its own switch, never tied to DEBUG: TLS usually ends at a proxy.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- I18n, static ---------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Hashed, compressed file names in production (after collectstatic); plain files in
# development and tests, which serve straight from the apps' static folders.
STATIC_MANIFEST = env.bool("STATIC_MANIFEST", default=not DEBUG)
# Uploaded files (API.md "Files"): the local disk under var/media by default (the embedded
# default and the tests); S3 or any S3-compatible server (MinIO …) through django-storages
# when NUMINA_FILES_S3_BUCKET is set (README "Files"). Either way the names are opaque
# (files/<sha256[:2]>/<uuid>) and the bytes are served by Django, never by a public URL.
NUMINA_FILES_ROOT = env.str("NUMINA_FILES_ROOT", default=str(VAR_DIR / "media"))
NUMINA_FILES_S3_BUCKET = env.str("NUMINA_FILES_S3_BUCKET", default="")
if NUMINA_FILES_S3_BUCKET:
    FILES_STORAGE: dict = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": NUMINA_FILES_S3_BUCKET,
            "endpoint_url": env.str("NUMINA_FILES_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("NUMINA_FILES_S3_REGION", default="") or None,
            "access_key": env.str("NUMINA_FILES_S3_ACCESS_KEY", default="") or None,
            "secret_key": env.str("NUMINA_FILES_S3_SECRET_KEY", default="") or None,
            "location": env.str("NUMINA_FILES_S3_PREFIX", default=""),
            # Private objects: every download goes through the owner check.
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
            # MinIO and most self-hosted servers want path-style addressing.
            "addressing_style": env.str("NUMINA_FILES_S3_ADDRESSING_STYLE", default="") or None,
        },
    }
else:
    FILES_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": NUMINA_FILES_ROOT,
            # Never served by a web server: downloads go through the owner check.
            "base_url": None,
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "files": FILES_STORAGE,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_MANIFEST
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Numina's limits and rates (API.md) ----------------------------------------------
NUMINA_TITLE_MAX_LENGTH = env.int("NUMINA_TITLE_MAX_LENGTH", default=200)
NUMINA_MAX_TAGS = env.int("NUMINA_MAX_TAGS", default=20)
NUMINA_TAG_MAX_LENGTH = env.int("NUMINA_TAG_MAX_LENGTH", default=50)
# A conversation's standing instructions (API.md: at most 4,000 characters).
NUMINA_INSTRUCTIONS_MAX_LENGTH = env.int("NUMINA_INSTRUCTIONS_MAX_LENGTH", default=4000)
# Live share links per conversation, and the messages a shared snapshot shows (the newest
# of its branch).
NUMINA_SHARE_MAX_LINKS = env.int("NUMINA_SHARE_MAX_LINKS", default=20)
NUMINA_SHARE_MAX_MESSAGES = env.int("NUMINA_SHARE_MAX_MESSAGES", default=1000)
NUMINA_CONTENT_MAX_LENGTH = env.int("NUMINA_CONTENT_MAX_LENGTH", default=100_000)
NUMINA_MAX_ATTACHMENTS = env.int("NUMINA_MAX_ATTACHMENTS", default=20)
NUMINA_ATTACHMENT_MAX_LENGTH = env.int("NUMINA_ATTACHMENT_MAX_LENGTH", default=2048)
# Uploads (API.md "Files"): the most bytes one file may have, and one user's files in all.
NUMINA_FILE_MAX_BYTES = env.int("NUMINA_FILE_MAX_BYTES", default=20 * 1024 * 1024)
NUMINA_FILE_QUOTA_BYTES = env.int("NUMINA_FILE_QUOTA_BYTES", default=500 * 1024 * 1024)
# The types a file may be, judged from its content (conversations/uploads.py).
NUMINA_FILE_ALLOWED_TYPES = env.list(
    "NUMINA_FILE_ALLOWED_TYPES",
    default=[
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
        "text/markdown",
        "text/csv",
        "application/json",
    ],
)
# Pillow's decompression-bomb limit: an image of more pixels is refused (400).
NUMINA_IMAGE_MAX_PIXELS = env.int("NUMINA_IMAGE_MAX_PIXELS", default=50_000_000)
# Files no message references are deleted this long after their upload (the beat task).
NUMINA_FILE_ORPHAN_HOURS = env.int("NUMINA_FILE_ORPHAN_HOURS", default=24)
NUMINA_FILE_PURGE_INTERVAL = env.int("NUMINA_FILE_PURGE_INTERVAL", default=3600)
NUMINA_FILE_PURGE_BATCH = env.int("NUMINA_FILE_PURGE_BATCH", default=500)
# What Anthropic's Messages API takes (its documented limits): a file over them is refused
# when it is attached, before the model is asked. Images: 5 MB of base64 and 8000 px a
# side; PDFs: 32 MB (the whole request) and 100 pages; text files are sent inline.
NUMINA_MODEL_IMAGE_MAX_BASE64_BYTES = env.int(
    "NUMINA_MODEL_IMAGE_MAX_BASE64_BYTES", default=5 * 1024 * 1024
)
NUMINA_MODEL_IMAGE_MAX_SIDE = env.int("NUMINA_MODEL_IMAGE_MAX_SIDE", default=8000)
NUMINA_MODEL_PDF_MAX_BYTES = env.int("NUMINA_MODEL_PDF_MAX_BYTES", default=32 * 1024 * 1024)
NUMINA_MODEL_PDF_MAX_PAGES = env.int("NUMINA_MODEL_PDF_MAX_PAGES", default=100)
NUMINA_MODEL_TEXT_MAX_CHARS = env.int("NUMINA_MODEL_TEXT_MAX_CHARS", default=100_000)
# The context sends the files of the newest messages, at most this many; older ones are
# named in a short note instead (conversations/context.py).
NUMINA_CONTEXT_RECENT_FILES = env.int("NUMINA_CONTEXT_RECENT_FILES", default=4)
NUMINA_METADATA_MAX_BYTES = env.int("NUMINA_METADATA_MAX_BYTES", default=16 * 1024)
NUMINA_METADATA_MAX_DEPTH = env.int("NUMINA_METADATA_MAX_DEPTH", default=32)
NUMINA_PAGE_SIZE = env.int("NUMINA_PAGE_SIZE", default=20)
NUMINA_MAX_PAGE_SIZE = env.int("NUMINA_MAX_PAGE_SIZE", default=100)
NUMINA_RETRIEVE_MESSAGES = env.int("NUMINA_RETRIEVE_MESSAGES", default=50)
NUMINA_RETRIEVE_MESSAGES_MAX = env.int("NUMINA_RETRIEVE_MESSAGES_MAX", default=500)
NUMINA_SEARCH_QUERY_MAX_LENGTH = env.int("NUMINA_SEARCH_QUERY_MAX_LENGTH", default=500)
# Search ranks only the newest this many matches of a query (selectors.search_messages),
# so a word in every message costs what a rare one does; results are the best-ranked
# among them. Larger finds older best matches of common words, at a cost that grows
# with it (benchmarks/search_bench.py).
NUMINA_SEARCH_CANDIDATES = env.int("NUMINA_SEARCH_CANDIDATES", default=200)
NUMINA_IMPORT_MAX_MESSAGES = env.int("NUMINA_IMPORT_MAX_MESSAGES", default=10_000)
# Conversations the whole-account export (GET /api/v1/export/) reads per batch: each
# batch is three queries, and its messages are streamed, never all held.
NUMINA_EXPORT_BATCH = env.int("NUMINA_EXPORT_BATCH", default=200)
# POST /api/v1/import/ (services/bulk_import.py, sources/): a file past this is a 400.
NUMINA_IMPORT_MAX_BYTES = env.int("NUMINA_IMPORT_MAX_BYTES", default=100 * 1024 * 1024)
# Past either, a file is imported by a Celery task (202 and a job) instead of in the request.
NUMINA_IMPORT_ASYNC_BYTES = env.int("NUMINA_IMPORT_ASYNC_BYTES", default=5 * 1024 * 1024)
NUMINA_IMPORT_ASYNC_CONVERSATIONS = env.int("NUMINA_IMPORT_ASYNC_CONVERSATIONS", default=500)
# A ZIP's bounds, checked on its directory before anything is inflated (a zip bomb):
# entries, their total uncompressed size, and any one entry's compression ratio.
NUMINA_IMPORT_MAX_ENTRIES = env.int("NUMINA_IMPORT_MAX_ENTRIES", default=50_000)
NUMINA_IMPORT_MAX_UNCOMPRESSED_BYTES = env.int(
    "NUMINA_IMPORT_MAX_UNCOMPRESSED_BYTES", default=1024 * 1024 * 1024
)
NUMINA_IMPORT_MAX_RATIO = env.int("NUMINA_IMPORT_MAX_RATIO", default=200)
NUMINA_SYNC_PAGE_SIZE = env.int("NUMINA_SYNC_PAGE_SIZE", default=100)
# Operations one POST /api/v1/batch/ (the offline queue) may carry.
NUMINA_BATCH_MAX_OPERATIONS = env.int("NUMINA_BATCH_MAX_OPERATIONS", default=100)
# Conversations one POST /api/v1/conversations/bulk/ may act on.
NUMINA_BULK_MAX_IDS = env.int("NUMINA_BULK_MAX_IDS", default=100)
# The live event stream (/api/v1/events/): a comment line at least this often (API.md: 15 s
# at most), and how many streams one user may hold open in one web process.
NUMINA_EVENTS_HEARTBEAT_SECONDS = env.float("NUMINA_EVENTS_HEARTBEAT_SECONDS", default=15.0)
NUMINA_EVENTS_MAX_STREAMS_PER_USER = env.int("NUMINA_EVENTS_MAX_STREAMS_PER_USER", default=20)
# Request bodies (an import is the largest) are refused past this size with a 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("NUMINA_MAX_REQUEST_BYTES", default=32 * 1024 * 1024)
NUMINA_ALLOW_SIGNUP = env.bool("NUMINA_ALLOW_SIGNUP", default=True)
NUMINA_TOKEN_TTL_DAYS = env.int("NUMINA_TOKEN_TTL_DAYS", default=30)
NUMINA_THROTTLE_USER = env.str("NUMINA_THROTTLE_USER", default="1200/min")
NUMINA_THROTTLE_ANON = env.str("NUMINA_THROTTLE_ANON", default="120/min")
NUMINA_THROTTLE_AUTH = env.str("NUMINA_THROTTLE_AUTH", default="10/min")
NUMINA_THROTTLE_CHAT = env.str("NUMINA_THROTTLE_CHAT", default="30/min")
# Share link lookups (the page and the JSON), per client address, signed in or not.
NUMINA_SHARE_RATE = env.str("NUMINA_SHARE_RATE", default="60/min")
# Proxies in front of the web that append to X-Forwarded-For; 0: the client address is
# REMOTE_ADDR alone (numina/throttling.py: a forged header must not pick the bucket), and
# /metrics needs its token from any address (numina/ops.py).
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
# Model tokens (input + output) per user per UTC day, for chat, titles and summaries; 0: none.
NUMINA_DAILY_TOKEN_BUDGET = env.int("NUMINA_DAILY_TOKEN_BUDGET", default=200_000)
# Long responses (chat streams, exports) one user holds at once, each a request thread;
# a slot a crashed worker never gave back expires after NUMINA_STREAM_SLOT_TTL seconds.
NUMINA_MAX_STREAMS_PER_USER = env.int("NUMINA_MAX_STREAMS_PER_USER", default=2)
NUMINA_STREAM_SLOT_TTL = env.int("NUMINA_STREAM_SLOT_TTL", default=300)
NUMINA_CACHE_TTL = env.int("NUMINA_CACHE_TTL", default=300)
# migrate_conversations (LEGACY.md): where the legacy memory lives, keys per SCAN page
# and pipelined read, and how many keys or items each list in its report names.
NUMINA_LEGACY_REDIS_URL = env.str("NUMINA_LEGACY_REDIS_URL", default="redis://127.0.0.1:6379/0")
NUMINA_MIGRATE_BATCH_SIZE = env.int("NUMINA_MIGRATE_BATCH_SIZE", default=500)
# Conversations migrate_conversations commits per transaction (all or nothing).
NUMINA_LEGACY_BATCH_CONVERSATIONS = env.int("NUMINA_LEGACY_BATCH_CONVERSATIONS", default=200)
# Connections migrate_conversations writes those transactions on at once (PostgreSQL).
NUMINA_LEGACY_WRITERS = env.int("NUMINA_LEGACY_WRITERS", default=2)
# ... and the messages after which such a transaction ends before its conversations do.
NUMINA_LEGACY_BATCH_MESSAGES = env.int("NUMINA_LEGACY_BATCH_MESSAGES", default=2500)
# A run that imported at least this many messages ends with ANALYZE of the conversation
# and message tables (services.legacy_import.refresh_planner_statistics).
NUMINA_LEGACY_ANALYZE_AFTER = env.int("NUMINA_LEGACY_ANALYZE_AFTER", default=10_000)
NUMINA_MIGRATE_REPORT_LIMIT = env.int("NUMINA_MIGRATE_REPORT_LIMIT", default=1000)

# --- Model ----------------------------------------------------------------------------
ANTHROPIC_API_KEY = env.str("ANTHROPIC_API_KEY", default="")
ANTHROPIC_BASE_URL = env.str("ANTHROPIC_BASE_URL", default="")
ANTHROPIC_MODEL = env.str("ANTHROPIC_MODEL", default="claude-sonnet-4-5")
ANTHROPIC_MAX_TOKENS = env.int("ANTHROPIC_MAX_TOKENS", default=1024)
# Seconds per attempt, and the SDK's own retries of a chat reply (attempts = retries + 1).
# Titles and summaries make one attempt per task run: Celery retries those
# (conversations/llm.py, BACKGROUND_SDK_RETRIES), so one attempt's timeout must stay under
# the tasks' soft time limit (tests/conversations/test_tasks.py asserts the chain).
ANTHROPIC_TIMEOUT = env.float("ANTHROPIC_TIMEOUT", default=60.0)
ANTHROPIC_MAX_RETRIES = env.int("ANTHROPIC_MAX_RETRIES", default=2)

# --- Context, titles, summaries (conversations/context.py, services, tasks) -----------
NUMINA_SYSTEM_PROMPT = env.str(
    "NUMINA_SYSTEM_PROMPT",
    default=(
        "You are Claude, a helpful assistant, talking with a user of Numina, the app that "
        "keeps their conversations. Answer clearly and concisely."
    ),
)
NUMINA_CONTEXT_BUDGET = env.int("NUMINA_CONTEXT_BUDGET", default=2000)
NUMINA_CONTEXT_BUDGET_MIN = env.int("NUMINA_CONTEXT_BUDGET_MIN", default=100)
NUMINA_CONTEXT_BUDGET_MAX = env.int("NUMINA_CONTEXT_BUDGET_MAX", default=100_000)
NUMINA_CONTEXT_RECENT_MESSAGES = env.int("NUMINA_CONTEXT_RECENT_MESSAGES", default=6)
# Memory across conversations (memory/): at most this many items a user; the share of the
# context budget the items may take (the user's own first, then the newest); how long
# after a reply extraction waits, so a fast chat asks the model once for several turns;
# and how many of the user's new messages one extraction reads.
NUMINA_MEMORY_MAX_ITEMS = env.int("NUMINA_MEMORY_MAX_ITEMS", default=200)
NUMINA_MEMORY_CONTEXT_SHARE = env.float("NUMINA_MEMORY_CONTEXT_SHARE", default=0.10)
NUMINA_MEMORY_CONTEXT_ITEMS = env.int("NUMINA_MEMORY_CONTEXT_ITEMS", default=50)
NUMINA_MEMORY_DEBOUNCE = env.int("NUMINA_MEMORY_DEBOUNCE", default=20)
NUMINA_MEMORY_EXTRACT_MESSAGES = env.int("NUMINA_MEMORY_EXTRACT_MESSAGES", default=40)
NUMINA_MEMORY_MAX_TOKENS = env.int("NUMINA_MEMORY_MAX_TOKENS", default=600)
NUMINA_SUMMARY_THRESHOLD = env.int("NUMINA_SUMMARY_THRESHOLD", default=15)
NUMINA_SUMMARY_MAX_TOKENS = env.int("NUMINA_SUMMARY_MAX_TOKENS", default=400)
# Messages one summary run folds in at most; a longer backlog takes several runs.
NUMINA_SUMMARY_BATCH = env.int("NUMINA_SUMMARY_BATCH", default=100)
# A stored summary's length (import refuses more; model or legacy text is clipped) and
# the characters of messages one summary prompt may carry.
NUMINA_SUMMARY_MAX_CHARS = env.int("NUMINA_SUMMARY_MAX_CHARS", default=20_000)
NUMINA_SUMMARY_INPUT_MAX_CHARS = env.int("NUMINA_SUMMARY_INPUT_MAX_CHARS", default=100_000)
NUMINA_TITLE_MAX_TOKENS = env.int("NUMINA_TITLE_MAX_TOKENS", default=30)
NUMINA_SWEEP_INTERVAL = env.int("NUMINA_SWEEP_INTERVAL", default=300)
NUMINA_SWEEP_BATCH = env.int("NUMINA_SWEEP_BATCH", default=200)
# Seconds a conversation must be idle before the sweeper re-enqueues its work, so work
# that is merely queued is not doubled.
NUMINA_SWEEP_GRACE = env.int("NUMINA_SWEEP_GRACE", default=120)

# The trash: a deleted conversation is kept this many days, then emptied for good by the
# beat task below, at most NUMINA_TRASH_PURGE_BATCH conversations a transaction and
# NUMINA_TRASH_PURGE_MAX_BATCHES transactions a run (the next run takes the rest).
NUMINA_TRASH_DAYS = env.int("NUMINA_TRASH_DAYS", default=30)
NUMINA_TRASH_PURGE_INTERVAL = env.int("NUMINA_TRASH_PURGE_INTERVAL", default=3600)
NUMINA_TRASH_PURGE_BATCH = env.int("NUMINA_TRASH_PURGE_BATCH", default=100)
NUMINA_TRASH_PURGE_MAX_BATCHES = env.int("NUMINA_TRASH_PURGE_MAX_BATCHES", default=50)

# --- Celery tasks that call the model -------------------------------------------------
# one attempt's timeout < soft limit < hard limit < broker visibility timeout: a
# task is never killed mid-call by its own limits, and Redis never redelivers a task that
# is still running.
NUMINA_TASK_MAX_RETRIES = env.int("NUMINA_TASK_MAX_RETRIES", default=5)
NUMINA_TASK_RETRY_BACKOFF = env.int("NUMINA_TASK_RETRY_BACKOFF", default=5)
NUMINA_TASK_RETRY_BACKOFF_MAX = env.int("NUMINA_TASK_RETRY_BACKOFF_MAX", default=600)
NUMINA_TASK_SOFT_TIME_LIMIT = env.int("NUMINA_TASK_SOFT_TIME_LIMIT", default=360)
NUMINA_TASK_TIME_LIMIT = env.int("NUMINA_TASK_TIME_LIMIT", default=420)
CELERY_BEAT_SCHEDULE = {
    "sweep-conversations": {
        "task": "conversations.tasks.sweep_conversations",
        "schedule": float(NUMINA_SWEEP_INTERVAL),
    },
    # For processes that never noticed a Redis outage (conversations/cache.py).
    "replay-cache-invalidations": {
        "task": "conversations.tasks.replay_cache_invalidations",
        "schedule": 60.0,
    },
    "empty-trash": {
        "task": "conversations.tasks.empty_trash",
        "schedule": float(NUMINA_TRASH_PURGE_INTERVAL),
    },
    "purge-orphan-files": {
        "task": "conversations.tasks.purge_orphan_files",
        "schedule": float(NUMINA_FILE_PURGE_INTERVAL),
    },
}

# --- REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # orjson, not the standard library's json (issue 19): a page of 60 conversations
    # rendered 10x faster. UTC as "Z", as DRF's DateTimeField writes it, so the bytes of
    # an answer are what DRF's own renderer would give for the same data
    # (tests/api/test_answers_match_serializers.py); and keys that are not strings
    # written as strings, as json does (a list field's errors are keyed by index).
    "DEFAULT_RENDERER_CLASSES": ["drf_orjson_renderer.renderers.ORJSONRenderer"],
    "ORJSON_RENDERER_OPTIONS": (orjson.OPT_UTC_Z, orjson.OPT_NON_STR_KEYS),
    "DEFAULT_PARSER_CLASSES": ["numina.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "numina.schema.NuminaAutoSchema",
    "EXCEPTION_HANDLER": "numina.errors.exception_handler",
    # ?format= is the export's own parameter (json | markdown), not DRF's renderer switch.
    "URL_FORMAT_OVERRIDE": None,
    "DEFAULT_THROTTLE_CLASSES": [
        "numina.throttling.UserRateThrottle",
        "numina.throttling.AnonRateThrottle",
    ],
    "NUM_PROXIES": NUM_PROXIES,
    # No default paginator: each list view names its own (conversations/api/views.py),
    # which reads NUMINA_PAGE_SIZE per request.
    "DEFAULT_THROTTLE_RATES": {
        "user": NUMINA_THROTTLE_USER,
        "anon": NUMINA_THROTTLE_ANON,
        "auth": NUMINA_THROTTLE_AUTH,
        "chat": NUMINA_THROTTLE_CHAT,
    },
}
# Knox's own token model (the migrations of accounts name it through this setting).
KNOX_TOKEN_MODEL = "knox.AuthToken"  # noqa: S105 (a model label)
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=NUMINA_TOKEN_TTL_DAYS),
    "AUTH_HEADER_PREFIX": "Bearer",
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Numina API",
    "DESCRIPTION": "Conversations with Claude, kept for good. See shared/API.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for the message role wherever it appears (else spectacular invents one).
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "conversations.models.Role",
        "MemoryKindEnum": "memory.models.Kind",
    },
}

# --- Operations: logs, metrics, readiness ------------------------------------------
# One line per event; LOG_FORMAT=json for machines. Every line of a request carries its
# request id (django-guid, also sent back as X-Request-ID and carried into the tasks it
# enqueues), and every line of a task its Celery task id.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {
            "()": "django_guid.log_filters.CorrelationId",
            "correlation_id_field": "request_id",
        },
        "task_id": {"()": "numina.logs.TaskIdFilter"},
    },
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(task_id)s] %(message)s"
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": ["asctime", "levelname", "name", "message", "request_id", "task_id"],
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_id", "task_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # django-guid reports each id it makes at INFO: a line per request, of no use.
    "loggers": {
        # Django's own default config sets "django" to INFO; follow LOG_LEVEL instead.
        "django": {"level": env.str("LOG_LEVEL", default="INFO")},
        "django_redis": {"level": "WARNING"},
        "django_guid": {"level": "WARNING"},
    },
}
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,
    "RETURN_HEADER": True,
    # Carries the request id into the tasks a request enqueues; workers log with LOGGING.
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True, log_parent=True)],
}
# /metrics answers a request bearing this token, or a direct loopback one when
# NUM_PROXIES is 0 (numina/ops.py); others get 404.
NUMINA_METRICS_TOKEN = env.str("NUMINA_METRICS_TOKEN", default="")
NUMINA_READYZ_TIMEOUT = env.float("NUMINA_READYZ_TIMEOUT", default=1.0)
# Serves benchmarks/floor.py's bare DRF list at /bench/floor/ (benchmarks only).
NUMINA_BENCHMARK_FLOOR = env.bool("NUMINA_BENCHMARK_FLOOR", default=False)
