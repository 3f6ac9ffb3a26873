"""Settings shared by every environment. Values come from the environment (django-environ)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("LIFELINE_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "csp",
    "lifeline.core",
    "lifeline.audit",
    "lifeline.contacts",
    "lifeline.conversations",
    "lifeline.cases",
    "lifeline.channels",
    "lifeline.phone",
    "lifeline.stats",
    "lifeline.console",
    "lifeline.public",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "lifeline.console.middleware.ConsoleSecurityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "lifeline.public.middleware.OnionLocationMiddleware",
    # Last, so that a locked-out login is answered before the view runs.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # counts failures, refuses locked accounts
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "lifeline.urls"
ASGI_APPLICATION = "lifeline.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "lifeline" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "lifeline.console.context.nav",
                "lifeline.public.context.reach",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'lifeline.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default runs web and worker threads on one file: take the write lock at
    # the start of each transaction and wait for it, rather than failing with "locked".
    # WAL lets pages read while a write is under way; NORMAL sync is safe under WAL.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )


def with_connection_timeouts(database: dict[str, Any]) -> dict[str, Any]:
    """A PostgreSQL database that stops answering without closing the connection (a frozen
    host, a route gone) must not hold a worker or the webhook for TCP's quarter of an hour:
    its connections give up after these (libpq's options; DATABASE_URL's query options win)."""
    if database["ENGINE"] == "django.db.backends.postgresql":
        options = database.setdefault("OPTIONS", {})
        options.setdefault("connect_timeout", 10)
        options.setdefault("keepalives", 1)
        options.setdefault("keepalives_idle", 30)
        options.setdefault("keepalives_interval", 10)
        options.setdefault("keepalives_count", 3)
        options.setdefault("tcp_user_timeout", 30_000)  # ms: data sent and never acknowledged
    return database


with_connection_timeouts(DATABASES["default"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache holds what every process must agree on (the web chat's rate limits, counters).
# Default: this process's memory, enough for the embedded default (one process). Production
# runs several web and worker processes and needs one shared cache: Redis, through Django's
# built-in backend, e.g. LIFELINE_CACHE_URL=redis://127.0.0.1:6379/0 (prod.py requires it).
CACHES = {"default": env.cache_url("LIFELINE_CACHE_URL", default="locmemcache://")}

AUTH_USER_MODEL = "core.User"
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:home"

# Staff passwords: argon2id first; the others only to read hashes made elsewhere.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 14},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Every page exists in Russian, Ukrainian and English.
LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", "Русский"), ("uk", "Українська"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "lifeline" / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "lifeline" / "static"]

# Staff sessions: only the console sees the cookie; idle timeout 30 minutes (every request
# renews it), absolute limit 12 hours (lifeline.console.middleware).
# Database sessions that refuse forged keys before any query (lifeline/core/sessions.py).
SESSION_ENGINE = "lifeline.core.sessions"
SESSION_COOKIE_PATH = "/console/"
SESSION_COOKIE_NAME = "lifeline_staff"
SESSION_COOKIE_AGE = 30 * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
LIFELINE_SESSION_ABSOLUTE_SECONDS = 12 * 60 * 60
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
SESSION_COOKIE_SECURE = env.bool("LIFELINE_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_SAMESITE = "Strict"
CSRF_COOKIE_HTTPONLY = True
# Public cookies end with the browser session (a seized phone keeps less): no max age.
CSRF_COOKIE_AGE = None
LANGUAGE_COOKIE_AGE = None
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True

# A lost form key gets a page in the visitor's language, with the quick exit.
CSRF_FAILURE_VIEW = "lifeline.public.views.csrf_failure"

# Content-Security-Policy: no inline script, nothing from elsewhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # data: for the TOTP enrolment QR code
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Second factor (django-otp): TOTP, mandatory for every console page.
OTP_TOTP_ISSUER = env.str("LIFELINE_OTP_ISSUER", default="Lifeline")
OTP_TOTP_THROTTLE_FACTOR = 1

# Lockout (django-axes), staff login only: 5 failed passwords lock an account *for one client*
# (lifeline/console/security.py). A browser that signed in to the account before carries a
# device cookie and has its own bucket; every other client shares one "unknown" bucket per
# account. So a stranger can lock only the unknown bucket, never the owner's own browser. No
# client address, user agent or Accept header is read or stored: axes' "ip_address" column holds
# a keyed hash of the device cookie (in fd00::/8) or the constant of the unknown bucket.
AXES_FAILURE_LIMIT = 5
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "lifeline.console.security.LockoutHandler"
AXES_RESET_ON_SUCCESS = True
# Attempts during a lockout do not restart it, so an attacker cannot keep an account locked.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_COOLOFF_TIME = env.float("LIFELINE_LOCKOUT_HOURS", default=1.0)
AXES_LOCKOUT_TEMPLATE = "console/auth/locked.html"
AXES_CLIENT_IP_CALLABLE = "lifeline.console.security.device_client"
AXES_CLIENT_STR_CALLABLE = "lifeline.console.security.client_label"
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token", "token", "csrfmiddlewaretoken"]
# The device cookie (path /console/, HttpOnly, SameSite=Strict) lasts this many days.
LIFELINE_DEVICE_COOKIE_DAYS = env.int("LIFELINE_DEVICE_COOKIE_DAYS", default=90)
# A one-time enrolment link (new account, password reset) works for this many hours.
LIFELINE_ENROLMENT_LINK_HOURS = env.int("LIFELINE_ENROLMENT_LINK_HOURS", default=48)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# same-origin, not no-referrer: browsers send "Origin: null" on form posts under no-referrer,
# which CSRF protection must refuse. Other sites still never receive a referrer.
SECURE_REFERRER_POLICY = "same-origin"

# --- Keys (see lifeline/core/crypto.py and docs/adr/0002-field-encryption.md) ---
# LIFELINE_KEYS: "1:<base64 32 bytes>,2:<base64 32 bytes>"; the highest version encrypts.
# LIFELINE_BLIND_INDEX_KEY: base64 32 bytes, separate from the encryption keys.
# LIFELINE_CODENAME_PEPPER: base64 32 bytes.
# Or LIFELINE_KEY_FILE: a JSON file holding the same (the embedded default: var/keys.json).
LIFELINE_KEYS = env.str("LIFELINE_KEYS", default="")
LIFELINE_BLIND_INDEX_KEY = env.str("LIFELINE_BLIND_INDEX_KEY", default="")
LIFELINE_CODENAME_PEPPER = env.str("LIFELINE_CODENAME_PEPPER", default="")
LIFELINE_KEY_FILE = env.str("LIFELINE_KEY_FILE", default="")
# The key store (lifeline/core/keystore.py): a data key per case and per contact, wrapped by the
# root key, apart from the main database and its backups. A SQLite file (a path), or
# postgres://... naming a database of its own, never the main one. Back it up apart, kept for
# a short time only: docs/operations.md, "Backups".
LIFELINE_KEYSTORE = env.str("LIFELINE_KEYSTORE", default=str(VAR_DIR / "keystore.sqlite3"))

# Flow files (lifeline/conversations/engine; docs/flows.md).
LIFELINE_FLOWS_DIR = BASE_DIR / "flows"

# Telegram (aiogram). No token: the bot is off, the web chat works alone.
TELEGRAM_BOT_TOKEN = env.str("TELEGRAM_BOT_TOKEN", default="")
# A random path segment and header secret for the webhook (see README, "Telegram").
TELEGRAM_WEBHOOK_SECRET = env.str("TELEGRAM_WEBHOOK_SECRET", default="")
# Only for tests and local Bot API servers: e.g. http://127.0.0.1:8081
LIFELINE_TELEGRAM_API_BASE = env.str("LIFELINE_TELEGRAM_API_BASE", default="")
LIFELINE_TELEGRAM_TIMEOUT = env.float("LIFELINE_TELEGRAM_TIMEOUT", default=20.0)
# Paid broadcasts beyond Telegram's free 30 messages a second (0: off). See the outbox.
LIFELINE_TELEGRAM_PAID_PER_SECOND = env.int("LIFELINE_TELEGRAM_PAID_PER_SECOND", default=0)
# Inbound events a worker takes in one transaction (one per chat); on PostgreSQL only.
LIFELINE_WORKER_BATCH = env.int("LIFELINE_WORKER_BATCH", default=100)

# Auto-assignment of waiting conversations to the least-loaded operator on shift.
LIFELINE_AUTO_ASSIGN = env.bool("LIFELINE_AUTO_ASSIGN", default=False)
LIFELINE_MAX_CONVERSATIONS_PER_OPERATOR = env.int(
    "LIFELINE_MAX_CONVERSATIONS_PER_OPERATOR", default=5
)

# PBXs allowed to post CTI events: "name:secret,name2:secret2" (HMAC-SHA256 of the body).
LIFELINE_PBX_SECRETS = env.str("LIFELINE_PBX_SECRETS", default="")
LIFELINE_CTI_MAX_SKEW = env.int("LIFELINE_CTI_MAX_SKEW", default=300)  # seconds

# Stage-2 re-identification by code words (see docs/threat-model.md, "timing oracle"): attempts
# per service number (its blind index) and per channel identity, across sessions and runs.
LIFELINE_REIDENTIFY_LIMIT = env.int("LIFELINE_REIDENTIFY_LIMIT", default=6)
LIFELINE_REIDENTIFY_WINDOW = env.int("LIFELINE_REIDENTIFY_WINDOW", default=24 * 3600)  # seconds
# Global budgets for expensive work, shared by all processes: name -> (units, per seconds).
# "secret_hash": scrypt checks of code words (about 130 ms of one core each here).
# "flow_start": a person starting a flow (his first message, /start): a flood of new contacts
# spends it and waits, the people already in a conversation do not. Sized below what two
# workers take (about 2,500 steps/s here, docs/performance.md), so that a surge of new contacts
# leaves most of it to the conversations under way. "password_hash": staff passwords checked at
# sign-in (Argon2: tens to hundreds of milliseconds of a core each).
LIFELINE_BUDGETS = {
    "secret_hash": (env.int("LIFELINE_SECRET_HASH_BUDGET", default=120), 60),
    "flow_start": (env.int("LIFELINE_FLOW_START_BUDGET", default=12000), 60),
    "password_hash": (env.int("LIFELINE_PASSWORD_HASH_BUDGET", default=60), 60),
}
# The share of a budget each channel may take, so that a flood on one channel (the anonymous web
# chat, where every probe can bring a fresh cookie) cannot starve the others: name -> channel ->
# fraction. A channel not listed takes from the whole budget.
LIFELINE_BUDGET_SHARES = {
    "secret_hash": {"web": 0.4, "telegram": 0.4, "phone": 0.2},
    "flow_start": {"web": 0.4, "telegram": 0.6},
}
# Messages one sender (a Telegram chat, a web-chat conversation) may have processed, per
# channel: a list of (messages, seconds). Past one, his next messages wait, stored and in order,
# until the window ends; he is told once. A person types far below these.
# (An hour, not a day: past a daily limit a man sharing his live location for a meeting
# would wait until midnight.)
LIFELINE_SENDER_LIMITS = {
    "telegram": [
        (env.int("LIFELINE_SENDER_PER_MINUTE", default=20), 60),
        (env.int("LIFELINE_SENDER_PER_HOUR", default=300), 3600),
    ],
    "web": [
        (env.int("LIFELINE_SENDER_PER_MINUTE", default=20), 60),
        (env.int("LIFELINE_SENDER_PER_HOUR", default=300), 3600),
    ],
}
# Per network (a keyed hash of the client's address, in the cache only, changing daily): web
# chats started per hour and web-chat messages per minute. Generous: mobile carriers put many
# subscribers behind one address.
LIFELINE_NETWORK_NEW_CHATS_PER_HOUR = env.int("LIFELINE_NETWORK_NEW_CHATS_PER_HOUR", default=30)
LIFELINE_NETWORK_MESSAGES_PER_MINUTE = env.int("LIFELINE_NETWORK_MESSAGES_PER_MINUTE", default=120)
# The request header that carries the client's address from the TLS proxy (e.g. "X-Real-IP",
# which nginx sets with ``proxy_set_header X-Real-IP $remote_addr``); empty: the socket's peer.
LIFELINE_CLIENT_ADDRESS_HEADER = env.str("LIFELINE_CLIENT_ADDRESS_HEADER", default="")
# Retention (issue 15, part 5; days, 0: never). An application nobody verified expires (its
# personal fields erased, its counts kept); a transcript goes this long after the person's last
# message once no application of his is open or recently closed; a call's number goes this long
# after it rang; processed inbox events and sent outbox rows go after a week.
LIFELINE_RETENTION_UNVERIFIED_DAYS = env.int("LIFELINE_RETENTION_UNVERIFIED_DAYS", default=90)
LIFELINE_RETENTION_TRANSCRIPT_DAYS = env.int("LIFELINE_RETENTION_TRANSCRIPT_DAYS", default=180)
LIFELINE_RETENTION_CALL_DAYS = env.int("LIFELINE_RETENTION_CALL_DAYS", default=90)
LIFELINE_RETENTION_INBOX_DAYS = env.int("LIFELINE_RETENTION_INBOX_DAYS", default=7)
# The rules the worker runs (each app's own; an app does not import the ones above it).
LIFELINE_PURGES = [
    "lifeline.conversations.retention.purge",
    "lifeline.channels.retention.purge",
    "lifeline.phone.retention.purge",
    "lifeline.core.keystore.purge",
]
# (No limit of applications per service number: one that changed the answer would tell an
# adversary whether a man's number had been given today. Repeats are flagged for the
# verifiers instead: cases.suspicion, "number_elsewhere".)

# A web-chat device token ends after this many hours without a message in either direction: the
# transcript is no longer shown on that device and the next message starts a new conversation.
LIFELINE_WEBCHAT_IDLE_HOURS = env.float("LIFELINE_WEBCHAT_IDLE_HOURS", default=24.0)
# Photos and voice messages from Telegram: the largest file fetched (Telegram's own bot limit is
# 20 MB), the longest voice message, and the longest side of a stored photo after re-encoding.
LIFELINE_MEDIA_MAX_BYTES = env.int("LIFELINE_MEDIA_MAX_BYTES", default=10 * 1024 * 1024)
LIFELINE_VOICE_MAX_SECONDS = env.int("LIFELINE_VOICE_MAX_SECONDS", default=600)
LIFELINE_PHOTO_MAX_SIDE = env.int("LIFELINE_PHOTO_MAX_SIDE", default=2048)

# How to reach the hotline, shown on the public pages; changed without a release. The bot's
# username (without @), the phone numbers, and mirror addresses (shown as text, never linked:
# the pages reference no other host). An onion address adds the Onion-Location header.
LIFELINE_BOT_USERNAME = env.str("LIFELINE_BOT_USERNAME", default="")
LIFELINE_PHONE_NUMBERS = env.list("LIFELINE_PHONE_NUMBERS", default=[])
LIFELINE_MIRRORS = env.list("LIFELINE_MIRRORS", default=[])
# The public Telegram channels the press office posts to, one per language:
# "ru=@lifeline_ru,uk=@lifeline_uk,en=-1001234567890" (the bot must be an admin there).
LIFELINE_TELEGRAM_CHANNELS = env.dict("LIFELINE_TELEGRAM_CHANNELS", default={})
LIFELINE_ONION_ADDRESS = env.str("LIFELINE_ONION_ADDRESS", default="")
# A country code set by a reverse proxy you trust (e.g. "HTTP_CF_IPCOUNTRY"); empty: none kept.
LIFELINE_COUNTRY_HEADER = env.str("LIFELINE_COUNTRY_HEADER", default="")

# Where "end the chat" and the quick exit send the visitor: a neutral site.
LIFELINE_NEUTRAL_URL = env.str("LIFELINE_NEUTRAL_URL", default="https://yandex.ru/pogoda/")
# Public figures count up to the end of the previous week, and this many weeks further back.
LIFELINE_FIGURES_DELAY_WEEKS = env.int("LIFELINE_FIGURES_DELAY_WEEKS", default=0)
# ... and only up to the end of the last whole month by then: the figures then change monthly,
# so two weekly snapshots cannot be subtracted to give one week's (possibly small) count.
LIFELINE_FIGURES_WHOLE_MONTHS = env.bool("LIFELINE_FIGURES_WHOLE_MONTHS", default=False)

# Case numbers look like L-2026-000123.
LIFELINE_CASE_NUMBER_PREFIX = env.str("LIFELINE_CASE_NUMBER_PREFIX", default="L")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "lifeline.core.logging.RedactingFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        # Every handler carries the redacting filter (a test checks it).
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        # Request lines carry client addresses; Lifeline never logs those.
        "django.server": {"handlers": [], "level": "ERROR", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "ERROR", "propagate": False},
    },
}
