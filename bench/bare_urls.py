"""URLs of the load benchmarks (bench.load, bench.online_exam): the bare views and the old
/me/ (the peers) first, then the whole project unchanged."""

from django.urls import include, path

from bench.bare_views import bare_answer_save, bare_me, bare_verify
from bench.me_before import MeBeforeAPIView

urlpatterns = [
    path("bare/me/", bare_me, name="bare-me"),
    path("bare/verify/<str:number>/", bare_verify, name="bare-verify"),
    path("bare/attempts/<int:attempt_id>/answers/", bare_answer_save, name="bare-answer-save"),
    path("before/me/", MeBeforeAPIView.as_view(), name="before-me"),
    path("", include("config.urls")),
]
