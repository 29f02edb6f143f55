from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.decorators.cache import cache_control
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from core.auth import ApiTokenViewSet, token_view
from core.csp import csp_extend
from core.health import healthz
from core.schema import SchemaView
from exams import admin_analysis, online_pages
from exams.api import CertificateViewSet, ExamViewSet, ResultViewSet, SittingViewSet
from exams.api_applications import ApplicationViewSet
from exams.api_online import AttemptViewSet, OnlineSittingViewSet, PracticeViewSet
from exams.api_questions import QuestionViewSet
from exams.register_views import (
    RegisterChangesAPIView,
    RegisterHoldersAPIView,
    register_changes_page,
    register_holders_page,
)
from exams.views import CertificateVerifyAPIView, MeAPIView, me_page, verify_form, verify_page
from personnel.api import InspectorViewSet, RegionViewSet
from reports.api import ExportJobViewSet
from training.api import (
    BatchViewSet,
    CourseViewSet,
    CoverageViewSet,
    EnrollmentViewSet,
    HoursPolicyViewSet,
    HoursViewSet,
    MeViewSet,
)
from training.checkin_views import CheckinLiveAPIView, checkin_page, trainer_page
from training.evaluation_views import evaluation_post
from training.views import calendar_feed

router = DefaultRouter()
router.register("auth/tokens", ApiTokenViewSet, basename="api-token")
router.register("regions", RegionViewSet, basename="region")
router.register("inspectors", InspectorViewSet, basename="inspector")
router.register("courses", CourseViewSet, basename="course")
router.register("batches", BatchViewSet, basename="batch")
router.register("enrollments", EnrollmentViewSet, basename="enrollment")
router.register("hours", HoursViewSet, basename="hours")
router.register("coverage", CoverageViewSet, basename="coverage")
router.register("hours-policies", HoursPolicyViewSet, basename="hours-policy")
router.register("me", MeViewSet, basename="me")
router.register("exams", ExamViewSet, basename="exam")
router.register("sittings", SittingViewSet, basename="sitting")
router.register("results", ResultViewSet, basename="result")
router.register("certificates", CertificateViewSet, basename="certificate")
router.register("applications", ApplicationViewSet, basename="application")
router.register("questions", QuestionViewSet, basename="question")
router.register("attempts", AttemptViewSet, basename="attempt")
router.register("online-sittings", OnlineSittingViewSet, basename="online-sitting")
router.register("practice", PracticeViewSet, basename="practice")
router.register("exports", ExportJobViewSet, basename="export-job")

urlpatterns = [
    # First: the busiest anonymous endpoint is matched without trying the admin's and the
    # other includes first (each a resolver and its regexes per request; issue 13). Nothing
    # above the router may capture it, and nothing here does.
    path("api/v1/certificates/verify/<str:number>/", CertificateVerifyAPIView.as_view(), name="api-certificate-verify"),
    path("healthz", healthz, name="healthz"),
    # Browsers ask for /favicon.ico where a page links no icon (core/static/core/favicon.ico).
    # A temporary redirect (kept a day): the hashed name it points to changes with the file.
    path(
        "favicon.ico",
        cache_control(max_age=86400, public=True)(RedirectView.as_view(url=lazy(static, str)("core/favicon.ico"))),
    ),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    # Before the admin, whose catch-all would answer 404 for it.
    path("admin/overview/", include("reports.urls")),
    # 试题分析 (exams.admin_analysis): admin pages of a sitting and of an exam, beside their admins.
    path(
        "admin/exams/sitting/<int:object_id>/analysis/",
        admin_analysis.sitting_analysis_view,
        name="exams-sitting-analysis",
    ),
    path(
        "admin/exams/sitting/<int:object_id>/analysis.xlsx",
        admin_analysis.sitting_analysis_xlsx_view,
        name="exams-sitting-analysis-xlsx",
    ),
    path("admin/exams/exam/<int:object_id>/analysis/", admin_analysis.exam_analysis_view, name="exams-exam-analysis"),
    path(
        "admin/exams/exam/<int:object_id>/analysis.xlsx",
        admin_analysis.exam_analysis_xlsx_view,
        name="exams-exam-analysis-xlsx",
    ),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # Before the router, so its "me" prefix and any "certificates" viewset do not capture these.
    path("api/v1/me/", MeAPIView.as_view(), name="api-me"),
    path("api/v1/checkin/batches/<int:batch_id>/", CheckinLiveAPIView.as_view(), name="api-checkin-live"),
    path("api/v1/register/", RegisterHoldersAPIView.as_view(), name="api-register"),
    path("api/v1/register/changes/", RegisterChangesAPIView.as_view(), name="api-register-changes"),
    path("api/v1/", include(router.urls)),
    path("verify/", verify_form, name="verify-form"),
    path("verify/<str:number>/", verify_page, name="verify"),
    path("me/", me_page, name="me"),
    # 在线考试 (exams.online_pages): the candidate's pages, phone first.
    path("me/exams/", online_pages.exams_page, name="online-exams"),
    path("me/exams/practice/", online_pages.practice_start, name="online-practice"),
    path("me/exams/sittings/<int:sitting_id>/", online_pages.sitting_page, name="online-sitting"),
    path("me/exams/sittings/<int:sitting_id>/start/", online_pages.sitting_start, name="online-start"),
    path("me/exams/attempts/<int:attempt_id>/", online_pages.attempt_page, name="online-attempt"),
    path("me/exams/attempts/<int:attempt_id>/answers/", online_pages.attempt_answers, name="online-answers"),
    path("me/exams/attempts/<int:attempt_id>/submit/", online_pages.attempt_submit, name="online-submit"),
    path("checkin/", checkin_page, name="checkin"),
    path("checkin/batch/<int:batch_id>/", trainer_page, name="checkin-trainer"),
    path("me/evaluations/<int:batch_id>/", evaluation_post, name="me-evaluation"),
    path("register/", register_holders_page, name="register"),
    path("register/changes/", register_changes_page, name="register-changes"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="exams/login.html", next_page="me", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path("api/v1/auth/token/", token_view, name="api-token"),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    # The start-up script from its own URL (?script), not inline: core.csp allows no inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="core/swagger_ui.html"),
        name="swagger-ui",
    ),
    path("calendar/<str:token>.ics", calendar_feed, name="calendar-feed"),
    # Redoc styles itself with <style> elements it adds and reads the schema in a blob: worker:
    # this page only allows both (core.csp).
    path(
        "api/redoc/",
        csp_extend(style_src=("'unsafe-inline'",), worker_src=("'self'", "blob:"))(
            SpectacularRedocView.as_view(url_name="schema", template_name="core/redoc.html")
        ),
        name="redoc",
    ),
]
handler404 = "core.errors.not_found"
handler400 = "core.errors.bad_request_view"
handler403 = "core.errors.permission_denied_view"
handler500 = "core.errors.server_error_view"
