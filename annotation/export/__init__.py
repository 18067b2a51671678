"""The corpus export: labelled segments → one zip (manifest, audio, faces,
splits, dataset card with plots).

build.py runs an export (the Export row records progress and result; its
entry points are re-exported here: `from annotation.export import
build_export`); rows.py selects the segments and their labels, aggregate.py
reduces several people's labels to one answer, splits.py assigns
speaker-disjoint train/val/test, card.py writes the dataset card, plots.py
its figures, views.py and urls.py are the page and API.
"""

from .build import ExportError, build_export, copy_export_file, enqueue_export, new_export

__all__ = ["ExportError", "build_export", "copy_export_file", "enqueue_export", "new_export"]
