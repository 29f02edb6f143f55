from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from core.errors import AccessDenied

from . import access, services
from .imports import roster_import
from .selectors import inspector_get_for_actor, inspector_list, region_get_for_actor, region_list
from .serializers import (
    InspectorEventSerializer,
    InspectorFilterSerializer,
    InspectorInputSerializer,
    InspectorOutputSerializer,
    InspectorUpdateSerializer,
    RegionFilterSerializer,
    RegionSerializer,
    RosterImportSerializer,
    import_result_schemas,
)

# The import answers: a result (200) or the error envelope plus the result (400).
ImportResultSerializer, ImportRefusedSerializer = import_result_schemas("RosterImport")


class RegionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Administrative regions the caller may see (province > city > county)."""

    serializer_class = RegionSerializer
    lookup_field = "code"
    lookup_value_regex = r"\d{6}"

    def get_queryset(self):
        qs = region_list(actor=self.request.user)
        if self.action == "list":
            params = RegionFilterSerializer(data=self.request.query_params)
            params.is_valid(raise_exception=True)
            if params.validated_data.get("level"):
                qs = qs.filter(level=params.validated_data["level"])
            if params.validated_data.get("parent"):
                qs = qs.filter(parent__code=params.validated_data["parent"])
        return qs

    def get_object(self):
        return region_get_for_actor(actor=self.request.user, code=self.kwargs["code"])

    @extend_schema(parameters=[RegionFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)


class InspectorViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Inspectors in the caller's scope. Admins create and edit; inspectors see themselves."""

    serializer_class = InspectorOutputSerializer
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        filters = {}
        if self.action == "list":
            params = InspectorFilterSerializer(data=self.request.query_params)
            params.is_valid(raise_exception=True)
            filters = params.validated_data
        return inspector_list(actor=self.request.user, filters=filters)

    def get_object(self):
        return inspector_get_for_actor(actor=self.request.user, inspector_id=self.kwargs["pk"])

    @extend_schema(parameters=[InspectorFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=InspectorInputSerializer, responses={201: InspectorOutputSerializer})
    def create(self, request, *args, **kwargs):
        data = InspectorInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        inspector = services.inspector_create(actor=request.user, **data.validated_data)
        out = InspectorOutputSerializer(inspector, context=self.get_serializer_context())
        return Response(out.data, status=status.HTTP_201_CREATED)

    @extend_schema(request=InspectorUpdateSerializer, responses={200: InspectorOutputSerializer})
    def partial_update(self, request, *args, **kwargs):
        inspector = self.get_object()
        data = InspectorUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        inspector = services.inspector_update(actor=request.user, inspector=inspector, data=data.validated_data)
        return Response(InspectorOutputSerializer(inspector, context=self.get_serializer_context()).data)

    @extend_schema(responses={200: InspectorEventSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)  # the whole trail, not a page
    def events(self, request, pk=None):
        """The inspector's history for the administrators of their region: registration,
        edits (also by roster import) and logins linked, oldest first."""
        inspector = self.get_object()
        if not access.scope_for(request.user).is_admin:
            raise AccessDenied()
        events = inspector.events.select_related("actor").order_by("at", "id")
        return Response(InspectorEventSerializer(events, many=True).data)

    @extend_schema(
        request={"multipart/form-data": RosterImportSerializer},
        responses={
            200: OpenApiResponse(ImportResultSerializer, description="导入成功（或校验通过的试运行）"),
            400: OpenApiResponse(ImportRefusedSerializer, description="有错误，未写入任何数据"),
            403: OpenApiResponse(description="无导入权限"),
        },
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser, FormParser])
    def import_roster(self, request):
        """Import a roster (.xlsx/.xls/.csv). All rows are checked first; any error writes nothing."""
        if not access.scope_for(request.user).is_admin:
            raise AccessDenied()
        form = RosterImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        result = roster_import(
            actor=request.user, data=upload.read(), filename=upload.name, dry_run=form.validated_data["dry_run"]
        )
        body = result.as_dict()
        if not result.ok:
            body = {"code": "invalid_file", "detail": str(result.errors[0]), "fields": {}, **body}
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return Response(body, status=status.HTTP_200_OK)
