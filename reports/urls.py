from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("lists/", views.lists, name="lists"),
    path("lists/<slug:name>.xlsx", views.list_download, name="list_download"),
]
