from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExamsConfig(AppConfig):
    name = "exams"
    verbose_name = _("考试与执法证")

    def ready(self):
        from personnel import demo

        from . import demo as exams_demo

        def step(*, stdout, options):
            return exams_demo.seed_exams(stdout=stdout, seed=options.get("seed", 2024))

        demo.register_step("exams", step)
