"""Overview page benchmark: the page from its stored figures against the same page computed
from scratch, in one run, on PostgreSQL, at 100k and 1M enrollments a year.

    .venv/bin/python -m bench.overview [--rows 100000 1000000] [--reuse] [--repeat 5] [--readme]

For each size N, in a subprocess of its own (database ``bench_overview_<N>``, seeded by
``bench.export.generate``: a province of 11 cities and 49 counties, N/4 inspectors, N
enrollments in the year and N/2 the year before, results, certificates and their events):
1. the page computed from scratch, as it was before it had stored figures (nothing stored:
   each year's figures read side by side by ``reports.pipeline``), for the province (the
   superuser's default) and for 石家庄市 (``?region=130100``): one warm-up, then ``--scratch``
   timed runs;
2. the refresh that stores the year's and the year before's figures for the whole tree
   (``reports.services.overview_figures_refresh``), timed;
3. the page from the stored figures, the same two scopes: one warm-up, then ``--repeat``
   timed runs;
4. checks that both pages show the same figures (summary this year and last, 同比, the
   cities' rows, the sector chart, and the certificate work: applications per kind and state,
   年审 per city, cards printed), and that the stored figures rolled up for the province, the
   city and a county equal ``reports.figures.Report`` from scratch, and the stored certificate
   work equals ``reports.figures``' functions counting now (timed both ways).
The generated data has no certificate work: before the first run on a database the child adds
some (``_certificate_work``: 年审 and 补办 applications in every state for one certificate
in 12.5 held, a card printed for one valid certificate in 20, the year's 年审 window).
Pages go through Django's test client (the whole view, template included; no HTTP server).
Prints a table and the ratios (from scratch / stored); writes bench/out/overview.json;
``--readme`` puts the figures into bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import (
    BASE_DIR,
    OUT_DIR,
    README,
    BenchError,
    ensure_database,
    load_average,
    run_main,
    versions,
    write_readme_figures,
)
from bench.harness import database_url as checked_database_url

OUT_FILE = OUT_DIR / "overview.json"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench_overview"
GOALS = {"province_s": 0.5, "province_aim_s": 0.1, "city_s": 0.2}
CITY = "130100"
COUNTY = "130102"


def size_url(base: str, rows: int) -> str:
    """``bench_overview_100k`` / ``bench_overview_1m``: one database per size, kept for --reuse."""
    label = f"{rows // 1_000_000}m" if rows % 1_000_000 == 0 else f"{rows // 1000}k"
    head, name = base.rsplit("/", 1)
    return checked_database_url(f"{head}/{name}_{label}", DEFAULT_DATABASE_URL)


# --- the child: one size, one database ------------------------------------------------------------------


def _timed(get, runs: int) -> dict:
    get()  # warm: the connection, the templates, the caches of the database
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        response = get()
        seconds.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise BenchError(f"the page answered {response.status_code}")
    return {"min": min(seconds), "median": statistics.median(seconds), "runs": [round(s, 4) for s in seconds]}


def _page_figures(context) -> dict:
    """What the page shows, as plain values (to compare the two ways of computing it)."""
    return {
        "summary": [(r["key"], r["current"], r["previous"], r["change_display"]) for r in context["summary"]],
        "cities": context["cities"],
        "sectors": [[bar["text"] for bar in row["bars"]] for row in context["sector_chart"]["rows"]],
        "applications": context["applications"],
        "annual_review": context["annual_review"],
        "cards_printed": context["cards_printed"],
    }


def _certificate_work(year: int) -> dict:
    """Applications, cards printed and the 年审 window of ``year`` (once per database): 年审
    (one held certificate in 25) and 补办 (another one in 25) applications by the holder's
    region, made in the year, each state in turn; a card printed in the year for one valid
    certificate in 20; the year's window (its deadline passed: overdue counts)."""
    from django.db import connection

    from exams.models import AnnualReviewWindow, CertificateEvent

    if CertificateEvent.objects.filter(kind=CertificateEvent.Kind.CARD_PRINTED).exists():
        return {"certificate_work": "kept"}
    AnnualReviewWindow.objects.get_or_create(
        year=year, defaults={"opens_on": dt.date(year, 1, 1), "deadline": dt.date(year, 12, 31)}
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO exams_certificateapplication (created_at, updated_at, kind, state, levels, level,
                year, reason, note, new_sector, new_unit, closed_at, certificate_id, inspector_id, region_id)
            SELECT a.at, a.at, a.kind, a.state, 'county,city', CASE WHEN a.state = 'pending' THEN 'county' ELSE '' END,
                CASE WHEN a.kind = 'review' THEN %(year)s END, CASE WHEN a.kind = 'replace' THEN 'damaged' ELSE '' END,
                '', '', '', CASE WHEN a.state <> 'pending' THEN a.at END, a.id, a.holder_id, i.region_id
            FROM (
                SELECT c.id, c.holder_id,
                    make_timestamptz(%(year)s, 3, 1, 10, 0, 0) + (c.id %% 200) * interval '1 day' AS at,
                    CASE c.id %% 25 WHEN 1 THEN 'review' ELSE 'replace' END AS kind,
                    (ARRAY['pending', 'approved', 'returned', 'withdrawn'])[1 + (c.id / 25) %% 4] AS state
                FROM exams_certificate c
                WHERE c.id %% 25 IN (1, 2) AND c.status IN ('valid', 'suspended')
            ) a JOIN personnel_inspector i ON i.id = a.holder_id
            """,
            {"year": year},
        )
        applications = cursor.rowcount
        cursor.execute(
            """
            INSERT INTO exams_certificateevent (certificate_id, kind, reason, from_status, to_status, at)
            SELECT id, 'card_printed', '证卡第1版', '', '', make_timestamptz(%(year)s, 1, 15, 10, 0, 0)
                + (id %% 300) * interval '1 day'
            FROM exams_certificate WHERE id %% 20 = 0 AND status = 'valid'
            """,
            {"year": year},
        )
        cards = cursor.rowcount
        cursor.execute("ANALYZE exams_certificateapplication; ANALYZE exams_certificateevent")
    return {"applications": applications, "cards_printed": cards}


def _certificate_work_both_ways(scope, admin, today) -> tuple[bool, float, float]:
    """The stored certificate work (as the page reads it) against ``reports.figures`` counting
    now: equal?, and the seconds of each (the three functions, stored counts given or not)."""
    from reports import figures, selectors

    overview = selectors.overview_report(scope=scope)
    if None in (overview.applications, overview.cards_printed, overview.annual_review):
        raise BenchError(f"the certificate work of {scope.region.name} was not stored")
    started = time.perf_counter()
    stored = (
        figures.applications_by_kind_state(scope, admin, overview.applications),
        figures.annual_review_by_city(scope, admin, today=today, progress=overview.annual_review),
        figures.cards_printed_by_region(scope, overview.cards_printed),
    )
    stored_s = time.perf_counter() - started
    started = time.perf_counter()
    live = (
        figures.applications_by_kind_state(scope, admin),
        figures.annual_review_by_city(scope, admin, today=today),
        figures.cards_printed_by_region(scope),
    )
    live_s = time.perf_counter() - started
    return stored == live, live_s, stored_s


def child(rows: int, *, reuse: bool, repeat: int, scratch_runs: int) -> dict:
    from bench import export

    url = os.environ["DATABASE_URL"]
    created = ensure_database(url)
    export.setup_django(url, migrate=True)
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from personnel.models import Region
    from reports import figures, selectors, services
    from reports.models import OverviewSnapshot
    from training.models import Enrollment

    year = export.YEAR
    if not created and reuse and Enrollment.objects.filter(batch__year=year).count() == rows:
        made = {"reused": True}
    else:
        made = export.generate(rows)
        connection.close()
    made.update(_certificate_work(year))
    # The pages must not refresh on their own (in-process Celery would run it inside the page).
    services._send_refresh = lambda year: None
    # Static file names as they are (no collectstatic manifest needed: the page's links only).
    from django.conf import settings
    from django.test.utils import override_settings, setup_test_environment

    setup_test_environment()  # (the response's context, to compare what the page shows)
    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    override_settings(STORAGES={**settings.STORAGES, "staticfiles": plain}).enable()

    admin = get_user_model().objects.get(username="bench_admin")
    client = Client()
    client.force_login(admin)
    scopes = {"province": {"year": year}, "city": {"year": year, "region": CITY}}

    def page(params):
        return client.get("/admin/overview/", params, secure=True)  # (HTTPS: the settings redirect plain HTTP)

    out: dict = {"rows": rows, "data": made, "load_before": load_average()}
    shown: dict = {"scratch": {}, "stored": {}}
    statements: dict = {"scratch": {}, "stored": {}}

    # 1. from scratch: nothing stored
    OverviewSnapshot.objects.all().delete()
    for name, params in scopes.items():
        out[f"scratch_{name}"] = _timed(lambda p=params: page(p), scratch_runs)
        with CaptureQueriesContext(connection) as queries:
            shown["scratch"][name] = _page_figures(page(params).context)
        statements["scratch"][name] = len(queries)
        print(f"   from scratch, {name:<8} {out[f'scratch_{name}']['min']:8.3f} s", flush=True)

    # 2. the refresh of the two years the page shows
    for each in (year, year - 1):
        started = time.perf_counter()
        services.overview_figures_refresh(year=each)
        out[f"refresh_{each}_s"] = round(time.perf_counter() - started, 2)
        print(f"   refresh of {each}      {out[f'refresh_{each}_s']:8.2f} s", flush=True)

    # 3. from the stored figures
    for name, params in scopes.items():
        out[f"stored_{name}"] = _timed(lambda p=params: page(p), repeat)
        with CaptureQueriesContext(connection) as queries:
            context = page(params).context
        if context["figures_stale"]:
            raise BenchError("the stored figures were stale")
        shown["stored"][name] = _page_figures(context)
        statements["stored"][name] = len(queries)
        print(
            f"   stored,       {name:<8} {out[f'stored_{name}']['min']:8.3f} s "
            f"(median {out[f'stored_{name}']['median']:.3f})",
            flush=True,
        )

    # 4. the same figures both ways
    for name in scopes:
        if shown["stored"][name] != shown["scratch"][name]:
            raise BenchError(f"the {name} page shows other figures from the stored ones than from scratch")
    for code in (None, CITY, COUNTY):
        region = Region.objects.get(code=code) if code else Region.objects.get(parent__isnull=True)
        scope = figures.Scope(region=region, year=year)
        stored = selectors.overview_report(scope=scope).report
        fresh = figures.Report(scope)
        for report in (stored, fresh):
            report.by_sector(admin, with_coverage=False)  # (runs the queries of the fresh one)
        same = (
            stored.summary() == fresh.summary()
            and stored.by_sector(admin, with_coverage=False) == fresh.by_sector(admin, with_coverage=False)
            and stored.by_region(include_own_office=True) == fresh.by_region(include_own_office=True)
        )
        if not same:
            raise BenchError(f"stored figures of {region.name} differ from scratch")
        same_work, live_s, stored_s = _certificate_work_both_ways(scope, admin, timezone.localdate())
        if not same_work:
            raise BenchError(f"stored certificate work of {region.name} differs from counting it now")
        out.setdefault("certificate_work_s", {})[code or "province"] = {
            "live": round(live_s, 4),
            "stored": round(stored_s, 4),
        }
    out["equal"] = True
    out["statements"] = statements
    for name in scopes:
        out[f"ratio_{name}"] = round(out[f"scratch_{name}"]["min"] / out[f"stored_{name}"]["min"], 1)
    out["load_after"] = load_average()
    return out


# --- the parent --------------------------------------------------------------------------------------


def run_size(base_url: str, rows: int, *, reuse: bool, repeat: int, scratch_runs: int, output: Path) -> dict:
    url = size_url(base_url, rows)
    print(f"\n== {rows:,} enrollments ({url.rsplit('/', 1)[-1]})", flush=True)
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(BASE_DIR)}
    env.pop("CELERY_BROKER_URL", None)
    args = [sys.executable, "-m", "bench.overview", "--child", "--rows", str(rows), "--repeat", str(repeat)]
    args += ["--scratch", str(scratch_runs), "--output", str(output)] + (["--reuse"] if reuse else [])
    done = subprocess.run(args, env=env, cwd=BASE_DIR, check=False)
    if done.returncode != 0:
        raise BenchError(f"the {rows:,} run failed")
    return json.loads(output.read_text(encoding="utf-8"))


def readme_block(report: dict) -> str:
    lines = [
        f"### Overview page, {report['date'][:16].replace('T', ' ')} UTC ({report['machine']['cpus']} cores, "
        f"PostgreSQL {report['postgresql']}; Django test client, warm; best of {report['repeat']} runs "
        f"from the stored figures, of {report['scratch']} from scratch)",
        "",
        "| enrollments | scope | from scratch s | stored s (median) | ratio | statements scratch / stored "
        "| refresh s (year, year before) | load |",
        "|---:|---|---:|---:|---:|---|---:|---:|",
    ]
    for s in report["sizes"]:
        refresh = " + ".join(f"{v:.1f}" for k, v in s.items() if k.startswith("refresh_"))
        for name, label in (("province", "province (河北省)"), ("city", "city (石家庄市)")):
            st = s["statements"]
            lines.append(
                f"| {s['rows']:,} | {label} | {s[f'scratch_{name}']['min']:.2f} | {s[f'stored_{name}']['min']:.3f} "
                f"({s[f'stored_{name}']['median']:.3f}) | {s[f'ratio_{name}']:.0f}× | "
                f"{st['scratch'][name]} / {st['stored'][name]} | {refresh} | {s['load_before'][0] if s['load_before'] else ''} |"
            )
    v = report["verdict"]
    lines += [
        "",
        f"Figures equal both ways at every size (summary, 同比, cities, sectors, certificate work; stored rolled "
        f"up = from scratch for the province, a city, a county). Goals at the largest size: province <= {GOALS['province_s']} s: "
        f"{'met' if v['province_ok'] else 'missed'} (aim {GOALS['province_aim_s']} s: "
        f"{'met' if v['province_aim_ok'] else 'missed'}); city <= {GOALS['city_s']} s: "
        f"{'met' if v['city_ok'] else 'missed'}.",
        "",
    ]
    work = [
        f"{s['rows']:,} {scope}: {t['live'] * 1000:.1f} ms counted now, {t['stored'] * 1000:.1f} ms stored"
        for s in report["sizes"]
        for scope, t in s.get("certificate_work_s", {}).items()
    ]
    if work:
        lines += [f"Certificate work (the three sections' functions): {'; '.join(work)}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overview", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="enrollments in the year")
    parser.add_argument("--reuse", action="store_true", help="keep a size's data when its database already has it")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of the page from stored figures")
    parser.add_argument("--scratch", type=int, default=2, help="timed runs of the page from scratch")
    parser.add_argument("--readme", action="store_true", help="put the figures into bench/README.md")
    parser.add_argument("--output", type=Path, default=OUT_FILE)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        (rows,) = args.rows
        result = child(rows, reuse=args.reuse, repeat=args.repeat, scratch_runs=args.scratch)
        args.output.write_text(json.dumps(result, ensure_ascii=False, default=str), encoding="utf-8")
        return 0

    base = checked_database_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL, DEFAULT_DATABASE_URL)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    import psycopg

    with psycopg.connect(base.rsplit("/", 1)[0] + "/postgres") as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
    report = {
        "benchmark": "overview",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": versions("Django", "psycopg"),
        "postgresql": server,
        "repeat": args.repeat,
        "scratch": args.scratch,
        "goals": GOALS,
        "sizes": [],
    }
    print(f"overview benchmark: {args.rows} enrollments, {os.cpu_count()} CPUs, PostgreSQL {server}")
    part = OUT_DIR / "overview-size.json"
    for rows in args.rows:
        report["sizes"].append(
            run_size(base, rows, reuse=args.reuse, repeat=args.repeat, scratch_runs=args.scratch, output=part)
        )
        s = report["sizes"][-1]
        print(f"   ratios (from scratch / stored): province {s['ratio_province']}×, city {s['ratio_city']}×")
    part.unlink(missing_ok=True)
    largest = max(report["sizes"], key=lambda s: s["rows"])
    report["verdict"] = {
        "equal": all(s["equal"] for s in report["sizes"]),
        "province_ok": largest["stored_province"]["min"] <= GOALS["province_s"],
        "province_aim_ok": largest["stored_province"]["min"] <= GOALS["province_aim_s"],
        "city_ok": largest["stored_city"]["min"] <= GOALS["city_s"],
    }
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    print(f"\n{json.dumps(report['verdict'])}\nwrote {args.output}")
    print("\n" + readme_block(report))
    if args.readme:
        write_readme_figures("bench.overview", readme_block(report))
        print(f"wrote the figures to {README}")
    return 0


if __name__ == "__main__":
    run_main(main)
