"""``manage.py seed_demo``: fill the database with demo data; safe to run again.

Each app adds its demo as one step (a function ``step(*, stdout, options) -> dict``):
personnel's own comes first, and higher apps register theirs with
``personnel.demo.register_step`` from their ``AppConfig.ready()`` (a lower app never
imports a higher one). Steps run in order, all in one transaction. A step may return
``logins`` (a list of ``personnel.demo.Login``); they are printed together at the end.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand
from django.db import transaction

from personnel import demo


def personnel_step(*, stdout, options) -> dict:
    return demo.seed_personnel(stdout=stdout, inspectors=options["inspectors"], seed=options["seed"])


def steps():
    return [("personnel", personnel_step), *demo.STEPS]


class Command(BaseCommand):
    help = "生成演示数据（河北省地区、执法人员、演示账号）；可重复运行，不会产生重复数据。"

    def add_arguments(self, parser):
        parser.add_argument("--inspectors", type=int, default=4000, help="执法人员数量（默认 4000）")
        parser.add_argument("--seed", type=int, default=2024, help="随机种子（默认 2024）")

    def handle(self, *args, **options):
        started = time.perf_counter()
        logins = []
        with transaction.atomic():
            for name, step in steps():
                self.stdout.write(self.style.MIGRATE_HEADING(f"[{name}]"))
                result = step(stdout=self.stdout, options=options) or {}
                logins.extend(result.get("logins", []))
        self.stdout.write(self.style.SUCCESS(f"演示数据已就绪（{time.perf_counter() - started:.1f} 秒）。"))
        if logins:
            self.stdout.write("")
            self.stdout.write(demo.format_logins(logins))
            self.stdout.write(f"所有演示账号的密码均为 {demo.DEMO_PASSWORD}，仅供演示，请勿用于生产环境。")
