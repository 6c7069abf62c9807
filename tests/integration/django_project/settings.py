"""A minimal real Django project whose business writes and events share one transaction."""

import os

import psycopg

_info = psycopg.conninfo.conninfo_to_dict(os.environ["AUTOMATE_DATABASE_URL"])

SECRET_KEY = "test-only"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "shop"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _info["dbname"],
        "USER": _info.get("user", ""),
        "PASSWORD": _info.get("password", ""),
        "HOST": _info.get("host", ""),
        "PORT": _info.get("port", ""),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
