from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExamsConfig(AppConfig):
    name = "exams"
    verbose_name = _("考试与执法证")

    def ready(self):
        from django.db.models.signals import post_migrate

        from personnel import demo

        from .applications import approval_chains_ensure

        post_migrate.connect(approval_chains_ensure, sender=self, dispatch_uid="exams.approval_chains_ensure")

        from . import demo as exams_demo

        def step(*, stdout, options):
            return exams_demo.seed_exams(stdout=stdout, seed=options.get("seed", 2024))

        demo.register_step("exams", step)

        def bank_step(*, stdout, options):
            from .demo_bank import seed_question_bank

            return seed_question_bank(stdout=stdout)

        # 题库 and the qualification exams' paper rules: after the exams step, which makes the exams.
        demo.register_step("question_bank", bank_step)

        def online_step(*, stdout, options):
            return exams_demo.seed_online_sitting(stdout=stdout)

        # An online sitting open now for the demo inspector: after the bank step (its paper rules).
        demo.register_step("online_sitting", online_step)
