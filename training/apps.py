from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = _("培训")

    def ready(self):
        from personnel import demo

        from . import demo as training_demo

        def step(*, stdout, options):
            return training_demo.seed_training(stdout=stdout, seed=options.get("seed", 2024))

        demo.register_step("training", step)
