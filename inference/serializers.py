from rest_framework import serializers

from .models import ModelVersion


class ModelVersionSerializer(serializers.ModelSerializer):
    label = serializers.SerializerMethodField()
    prelabel_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = ModelVersion
        fields = ["id", "kind", "name", "version", "label", "arch", "sha256", "weights", "is_active",
                  "metrics", "config", "prelabel_count", "created_at"]
        read_only_fields = fields

    def get_label(self, obj) -> str:
        return obj.label
