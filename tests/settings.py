"""Settings of the test run (DJANGO_SETTINGS_MODULE in pyproject.toml): the project's own
settings, read with DJANGO_DEBUG=1 as `make run` reads them.

Debug has to be on while the settings are read: with it off they act as a deployment, want
a secret key of their own and turn on the HTTPS hardening (SSL redirect, HTTPS-only cookies),
which the test client's plain-HTTP requests do not pass. pytest-django still runs every test
with DEBUG off. The deployment settings (debug off by default, no start without a secret key,
`check --deploy` clean) are tested in fresh interpreters in tests/test_settings.py.

Set in os.environ, not only read here, so that the Celery workers some tests start (they
inherit the environment) read the same settings.
"""

import os

os.environ["DJANGO_DEBUG"] = "1"

from config.settings import *  # noqa: F403

# Uploaded files (inspector photos: the demo seeds some) go to a scratch folder, not the
# checkout's media/; names are random, so runs side by side do not collide.
if "DJANGO_MEDIA_ROOT" not in os.environ:
    import tempfile
    from pathlib import Path

    MEDIA_ROOT = Path(tempfile.gettempdir()) / "inspector-training-test-media"
