"""Production: PostgreSQL, keys and secrets from the environment only, HTTPS everywhere."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env, with_connection_timeouts

SECRET_KEY = env.str("DJANGO_SECRET_KEY")
DEBUG = False
DATABASES = {"default": with_connection_timeouts(env.db_url("DATABASE_URL"))}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("Production runs on PostgreSQL: set DATABASE_URL=postgres://...")
# A bounded connection pool per process (Django's psycopg pool): under an ASGI server every
# request runs in its own thread, and per-thread connections once exhausted PostgreSQL (docs/
# performance.md); with the pool, requests beyond DATABASE_POOL_MAX_SIZE wait for a connection
# instead. A connection is checked before it is handed out, so one that PostgreSQL dropped (a
# restart, pg_terminate_backend) is replaced, not given to a request. DATABASE_POOL_MAX_SIZE=0
# turns the pool off (persistent connections, DATABASE_CONN_MAX_AGE, as before).
POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=8)
if POOL_MAX_SIZE > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # Django's pool then checks each one
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": POOL_MAX_SIZE,
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=20.0),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
# Several processes share rate limits and counters: a per-process memory cache would let each
# of them count alone.
CACHES = {"default": env.cache_url("LIFELINE_CACHE_URL")}
if CACHES["default"]["BACKEND"] != "django.core.cache.backends.redis.RedisCache":
    raise ImproperlyConfigured(
        "Production shares one cache between processes: set LIFELINE_CACHE_URL=redis://..."
    )

SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
LANGUAGE_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = 63072000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
