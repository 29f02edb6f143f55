"""URLs of the load benchmark: the bare views first, then the whole project unchanged."""

from django.urls import include, path

from bench.bare_views import bare_me, bare_verify

urlpatterns = [
    path("bare/me/", bare_me, name="bare-me"),
    path("bare/verify/<str:number>/", bare_verify, name="bare-verify"),
    path("", include("config.urls")),
]
