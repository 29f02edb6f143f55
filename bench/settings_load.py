"""Settings of the load benchmarks (bench.load, bench.online_exam): the project's own, plus the
bare views' URLs.

Everything else (DEBUG, database, cache, rate limits) still comes from the environment,
exactly as in a deployment; the benchmark sets that environment for gunicorn.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bare_urls"
