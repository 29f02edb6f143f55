"""What the fault test's load needs, made in the private database after ``seed_demo``:

    DATABASE_URL=... python -m tests.faults.world <capacity>

prints one JSON object: API tokens (a provincial admin for enrollments and exports, the demo
inspector for ``/api/v1/me/``), a session cookie of the demo inspector for ``/me/``, valid
certificate numbers for ``/verify/``, an open province batch of ``capacity`` seats a few
months ahead (through ``training.services.batch_create``) and the active inspectors the load
may enroll in it. Run in its own process with the app's own settings (``config.settings``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys


def main(capacity: int) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import transaction

    from core.tokens import api_token_issue
    from exams.models import Certificate
    from personnel.models import Inspector, Region
    from training import services as training
    from training.models import Course

    User = get_user_model()
    admin = User.objects.get(username="province_admin")
    inspector_user = User.objects.get(username="inspector")
    province = Region.objects.get(parent__isnull=True)
    course = Course.objects.order_by("id").first()
    starts_on = dt.date.today() + dt.timedelta(days=200)
    with transaction.atomic():
        batch = training.batch_create(
            actor=admin,
            data={
                "course": course,
                "region": province,
                "starts_on": starts_on,
                "ends_on": starts_on + dt.timedelta(days=1),
                "enrollment_deadline": starts_on - dt.timedelta(days=7),
                "capacity": capacity,
                "status": "open",
                "place": "故障演练",
            },
        )

    session = SessionStore()
    session[SESSION_KEY] = str(inspector_user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = inspector_user.get_session_auth_hash()
    session.create()

    numbers = list(Certificate.objects.filter(status="valid").order_by("id").values_list("number", flat=True)[:50])
    pool = list(Inspector.objects.filter(status="active").order_by("id").values_list("id", flat=True))
    return {
        "admin_token": api_token_issue(user=admin, name="faults-admin")[1],
        "inspector_token": api_token_issue(user=inspector_user, name="faults-inspector")[1],
        "session_cookie": f"{settings.SESSION_COOKIE_NAME}={session.session_key}",
        "certificates": numbers,
        "batch": batch.pk,
        "capacity": capacity,
        "inspectors": pool,
        "year": dt.date.today().year - 1,
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
