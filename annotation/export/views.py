"""Exports page, staff download and the exports API (thin: rules live in annotation.export.build)."""

from django import forms
from django.contrib import messages
from django.core.files.storage import default_storage
from django.forms.models import ModelChoiceIterator
from django.forms.utils import flatatt
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from clips.models import Video
from labelstudio_emo.media_access import stored_file
from labelstudio_emo.permissions import IsStaff, staff_required

from ..models import FLAG_CHOICES, Export
from .build import ExportError, enqueue_export, new_export

DEFAULT_EXCLUDED_FLAGS = ["not_speaker", "bad_audio"]


# --------------------------------------------------------------------- API
class ExportSerializer(serializers.ModelSerializer):
    created_by = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = ["id", "status", "progress", "error", "params", "counts", "size_bytes", "sha256",
                  "created_by", "created_at", "finished_at", "download_url"]
        read_only_fields = fields

    def get_created_by(self, obj) -> str | None:
        return obj.created_by.username if obj.created_by else None

    def get_download_url(self, obj) -> str | None:
        if obj.status != Export.Status.SUCCEEDED or not obj.file:
            return None
        return reverse("export-download", args=[obj.id])


class ExportCreateSerializer(serializers.Serializer):
    videos = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, default=list)
    date_from = serializers.DateField(required=False, allow_null=True, default=None)
    date_to = serializers.DateField(required=False, allow_null=True, default=None)
    min_labels = serializers.IntegerField(min_value=1, required=False, default=1)
    min_agreement = serializers.FloatField(min_value=0.0, max_value=1.0, required=False, default=0.0)
    exclude_flags = serializers.ListField(child=serializers.ChoiceField(choices=FLAG_CHOICES),
                                         required=False, default=list)
    include_prelabel_only = serializers.BooleanField(required=False, default=False)
    seed = serializers.IntegerField(min_value=0, required=False, default=0)


class ExportViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                    viewsets.GenericViewSet):
    """Corpus exports (staff only). POST starts one on the io queue; poll GET /api/exports/<id>/."""

    permission_classes = [IsStaff]
    serializer_class = ExportSerializer
    queryset = Export.objects.select_related("created_by").order_by("-created_at", "-id")

    @extend_schema(request=ExportCreateSerializer, responses={201: ExportSerializer})
    def create(self, request, *args, **kwargs):
        params = ExportCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            export = new_export(dict(params.validated_data), user=request.user)
        except ExportError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        export = enqueue_export(export)
        return Response(ExportSerializer(export).data, status=status.HTTP_201_CREATED)


# ------------------------------------------------------------------- pages
class LongSelectMultiple(forms.SelectMultiple):
    """The same <select multiple>, its options written in one pass: Django's
    per-option templates took half a second for 2,000 videos."""

    def render(self, name, value, attrs=None, renderer=None):
        selected = {str(v) for v in (value or [])}
        options = "".join(
            f'<option value="{escape(key)}"{" selected" if str(key) in selected else ""}>{escape(label)}</option>'
            for key, label in self.choices)
        final = self.build_attrs(self.attrs, {**(attrs or {}), "name": name})
        return format_html("<select multiple{}>{}</select>", flatatt(final), mark_safe(options))


class VideoChoices(ModelChoiceIterator):
    """(id, label) of every video from one values_list read, without building 2,000 model instances."""

    def __iter__(self):
        for pk, title, external_id, channel in self.queryset.values_list("id", "title", "external_id", "channel"):
            yield pk, f"#{pk} {title or external_id}" + (f" ({channel})" if channel else "")


class VideoChoiceField(forms.ModelMultipleChoiceField):
    iterator = VideoChoices


class ExportForm(forms.Form):
    videos = VideoChoiceField(
        queryset=Video.objects.order_by("-created_at"), required=False,
        help_text="Leave empty for every video.", widget=LongSelectMultiple(attrs={"size": 6}))
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                                help_text="Only labels made on or after this day (UTC).")
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                              help_text="Only labels made on or before this day (UTC).")
    min_labels = forms.IntegerField(min_value=1, initial=1, help_text="Human labels a segment needs.")
    min_agreement = forms.FloatField(min_value=0, max_value=1, initial=0,
                                     help_text="Minimum share of raters agreeing with the final category (0-1).")
    exclude_flags = forms.MultipleChoiceField(
        choices=FLAG_CHOICES, required=False, initial=DEFAULT_EXCLUDED_FLAGS, widget=forms.CheckboxSelectMultiple,
        help_text="Leave out segments that half or more of their raters flagged like this.")
    include_prelabel_only = forms.BooleanField(
        required=False, help_text="Also segments with no human label but a teacher prediction (weak labels).")
    seed = forms.IntegerField(min_value=0, initial=0, help_text="Same seed, same data: same splits.")

    def params(self) -> dict:
        data = dict(self.cleaned_data)
        data["videos"] = [v.id for v in data["videos"]]
        return data


@staff_required
def exports_page(request):
    form = ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            export = enqueue_export(new_export(form.params(), user=request.user))
        except ExportError as exc:
            form.add_error(None, str(exc))
        else:
            if export.status == Export.Status.FAILED:
                messages.error(request, f"Export {export.id} failed: {export.error}")
            else:
                messages.success(request, f"Export {export.id} started.")
            return redirect("exports")
    exports = Export.objects.select_related("created_by").order_by("-created_at", "-id")[:100]
    return render(request, "annotation/exports.html", {"form": form, "exports": exports})


@staff_required
def export_download(request, pk: int):
    """Stream the zip from storage (never read into memory)."""
    export = get_object_or_404(Export, pk=pk)
    if export.status != Export.Status.SUCCEEDED or not export.file:
        raise Http404("This export has no file (not finished, failed or removed).")
    name = stored_file(export.file.name)  # Http404 when removed
    response = FileResponse(default_storage.open(name, "rb"), as_attachment=True,
                            filename=name.rsplit("/", 1)[-1], content_type="application/zip")
    response["X-Content-SHA256"] = export.sha256
    return response
