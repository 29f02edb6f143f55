"""Settings of the load benchmark: the project's own, plus the bare views' URLs.

Everything else (DEBUG, database, cache, rate limits) still comes from the environment,
exactly as in a deployment; ``bench.load`` sets that environment for gunicorn.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bare_urls"
