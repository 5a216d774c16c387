"""Settings, read only through django-environ (a `.env` file beside manage.py is optional)."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable (a long random string); "
            "it is required whenever DEBUG is off."
        )
    SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production-0123456789"
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

# Credentials at rest: django-fernet-encrypted-fields derives its keys from SECRET_KEY x SALT_KEY.
# A list rotates: the first salt encrypts, every salt decrypts (then `manage.py rotate_encryption_keys`).
SALT_KEY = env.list("SALT_KEY", default=[])
if not SALT_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SALT_KEY is not set. Set SALT_KEY (comma-separated for rotation) to the key material that "
            "encrypts stored credentials; it is required whenever DEBUG is off."
        )
    SALT_KEY = ["dev-only-insecure-salt"]

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=DEBUG)
# The address this portal is reached at, for URLs handed to remote systems (webhook notificationUrl).
PUBLIC_URL = env.str("PUBLIC_URL", default=f"http://127.0.0.1:{env.str('PORT', default='8000')}")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "portal",
    "connectors",
    "syncs",
    "webhooks",
]
if SANDBOX_ENABLED:
    # The simulators, the demo data and their commands (sandbox, seed_demo): never in production.
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Workers and the web process share one SQLite file. A busy database is a wait, never a failure
    # (portal/sqlite/base.py): a transaction takes the write lock at BEGIN, waited for in rounds of `timeout`
    # seconds; WAL lets readers and the one writer go on side by side. synchronous stays FULL: NORMAL could lose
    # the last commits to a power cut, and a commit records remote work already done (an attachment uploaded).
    DATABASES["default"]["ENGINE"] = "portal.sqlite"
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL"})
    # Django's default for SQLite, said aloud: pytest-django knows this engine by its name only, and would give a
    # test worker of its own (pytest -n) a file named after the database's path instead.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", ":memory:")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # A cache every process shares, so qinfo/qmonitor see the cluster (LocMem would not).
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "portal_cache"}
    }

Q_CLUSTER = {
    "name": "ml-connector",
    "workers": env.int("Q_WORKERS", default=2),
    # A sync run is bounded by `timeout`; `retry` stays above it so a running task is never re-presented.
    "timeout": env.int("Q_TIMEOUT", default=900),
    "retry": env.int("Q_TIMEOUT", default=900) + 120,
    # Business retries live in SyncRecord/SyncRun; the broker runs a task once.
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "cache": "default",
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "static"))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "status:home"
LOGOUT_REDIRECT_URL = "login"

# Lock files that share call slots and critical sections between processes on SQLite (flock; local disk).
LOCK_DIR = env.str("LOCK_DIR", default=str(BASE_DIR / "var" / "locks"))
# File exchanges (an AvidXchange connection in file mode) live under this folder only: a staff user types the
# folder, and must not be able to make the server write anywhere else.
FILE_EXCHANGE_ROOT = env.str("FILE_EXCHANGE_ROOT", default=str(BASE_DIR / "var" / "exchange"))

# Mail, for ops alerts (syncs/alerts.py): printed to the console in development, sent through EMAIL_URL
# (e.g. smtp+tls://user:password@smtp.example.com:587) otherwise.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ml-connector <alerts@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Who gets ops alerts, besides each tenant's ops members who have an e-mail address.
ALERT_EMAILS = env.list("ALERT_EMAILS", default=[])
# /metrics answers staff users, and a scraper that sends "Authorization: Bearer <METRICS_TOKEN>" when one is set.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# Largest webhook body accepted (bytes); BILL payloads are a few KB.
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=256 * 1024)

if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"redacted": {"()": "portal.redaction.RedactingFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "redacted"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # A flood of forged webhook calls must not become a flood of log lines: refusals are counted on the
    # subscription (Admin → Webhook subscriptions) instead; server errors are still logged.
    # django-q says "Enqueued [ml-connector] 8" at INFO for every task put on the broker: a queue id nobody can use.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "django.request": {"level": "ERROR"},
                "django-q": {"level": "WARNING"}},
}

# The connectors' HTTP client: attempts per call, exponential backoff (seconds) and the longest
# Retry-After honoured in place; a longer one defers the rest of the work.
CONNECTOR_MAX_ATTEMPTS = env.int("CONNECTOR_MAX_ATTEMPTS", default=5)
CONNECTOR_BACKOFF_BASE = env.float("CONNECTOR_BACKOFF_BASE", default=0.5)
CONNECTOR_BACKOFF_MAX = env.float("CONNECTOR_BACKOFF_MAX", default=30.0)
CONNECTOR_MAX_RETRY_AFTER = env.float("CONNECTOR_MAX_RETRY_AFTER", default=30.0)
