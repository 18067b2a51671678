"""The corpus export: labelled segments → one zip (manifest, audio, faces,
splits, dataset card with plots).

build.py runs an export (the Export row records progress and result);
rows.py selects the segments and their labels, aggregate.py reduces several
people's labels to one answer, splits.py assigns speaker-disjoint
train/val/test, card.py writes the dataset card, views.py and urls.py are the
page and API.
"""
