"""The corpus export: labelled segments → one zip (manifest, audio, faces,
splits, dataset card with plots).

build.py runs an export (the Export row records progress and result; its
entry points are re-exported here: `from annotation.export import
build_export`); rows.py selects the segments and their labels, aggregate.py
reduces several people's labels to one answer, splits.py assigns
speaker-disjoint train/val/test, card.py writes the dataset card, plots.py
its figures, views.py and urls.py are the page and API.
"""

__all__ = ["ExportError", "build_export", "copy_export_file", "enqueue_export", "new_export"]


def __getattr__(name: str):
    # Lazy (PEP 562): the pure modules (splits, aggregate, card, plots) stay
    # importable without Django; the entry points load build.py when asked for.
    if name in __all__:
        from . import build
        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
