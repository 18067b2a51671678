"""The dataset card (README.md) of an export, from its manifest rows.

Pure: rows (the manifest dicts) in, text out; no Django (plots.py draws the figures). The
card has to let a stranger use and cite the corpus without asking anyone:
what is in it, how it was made, how far raters agreed, where the audio came
from under which licence, and what it cannot be trusted for.
"""

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from annotation.agreement import IntervalAlphaSums, NominalAlphaSums
from labelstudio_emo.emotions import EMOTIONS

from .splits import SPLITS
from labelstudio_emo.safe_text import markdown_link, markdown_text


@dataclass
class Agreement:
    alpha_category: float | None      # Krippendorff's α, nominal, over segments with >= 2 raters
    alpha_valence: float | None       # α, interval
    alpha_arousal: float | None
    units: int                        # segments with >= 2 human labels (what α is computed on)
    raters: int                       # distinct pseudonymous raters
    labels: int
    mean_vote_share: float | None     # over segments with >= 2 labels
    unanimous_share: float | None     # share of those where everyone agreed
    labels_per_segment: dict = field(default_factory=dict)  # {n labels: segments}
    per_class_vote_share: dict = field(default_factory=dict)


def agreement_figures(rows: list[dict]) -> Agreement:
    raters = sorted({label["annotator"] for row in rows for label in row["labels"]})
    multi = [row for row in rows if len(row["labels"]) >= 2]
    per_n = Counter(len(row["labels"]) for row in rows)
    agreement = Agreement(None, None, None, len(multi), len(raters), sum(per_n[k] * k for k in per_n),
                          None, None, dict(sorted(per_n.items())))
    if multi and raters:
        # Exact α over every segment with repeated labels, V/A as sent: running sums, memory
        # independent of the number of distinct values (annotation/agreement.py).
        category, valence, arousal = NominalAlphaSums(), IntervalAlphaSums(), IntervalAlphaSums()
        for row in multi:
            category.add_unit([label["category"] for label in row["labels"]])
            valence.add_unit([float(label["valence"]) for label in row["labels"]])
            arousal.add_unit([float(label["arousal"]) for label in row["labels"]])
        agreement.alpha_category, agreement.alpha_valence = category.alpha(), valence.alpha()
        agreement.alpha_arousal = arousal.alpha()
        shares = [row["vote_share"] for row in multi if row["vote_share"] is not None]
        if shares:
            agreement.mean_vote_share = float(np.mean(shares))
            agreement.unanimous_share = float(np.mean([s >= 1.0 for s in shares]))
        by_class = defaultdict(list)
        for row in multi:
            if row["category"] and row["vote_share"] is not None:
                by_class[row["category"]].append(row["vote_share"])
        agreement.per_class_vote_share = {c: float(np.mean(by_class[c])) for c in EMOTIONS if by_class[c]}
    return agreement


def class_split_counts(rows: list[dict]) -> dict[str, dict[str, int]]:
    """{category or "none": {"train": n, "val": n, "test": n, "total": n}} in FER2013 order."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        key = row["category"] or "none"
        counts[key][row["split"]] += 1
        counts[key]["total"] += 1
    order = [c for c in (*EMOTIONS, "none") if c in counts]
    return {c: {s: counts[c][s] for s in (*SPLITS, "total")} for c in order}


# ---------------------------------------------------------------------- card
def _fmt(value, digits=3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _sources(rows: list[dict]) -> list[dict]:
    videos: dict[int, dict] = {}
    for row in rows:
        v = videos.setdefault(row["video_id"], {"video_id": row["video_id"], "title": row["video_title"],
                                                "url": row["video_url"], "channel": row["channel"],
                                                "license": row["license"], "segments": 0, "seconds": 0.0})
        v["segments"] += 1
        v["seconds"] += row["end"] - row["start"]
    return sorted(videos.values(), key=lambda v: v["video_id"])


def _cell(text) -> str:
    """Metadata from the source sites as inert Markdown (no HTML, no links)."""
    return markdown_text(text)


def limitations(rows: list[dict], agreement: Agreement, skipped: dict, params: dict) -> list[str]:
    notes = []
    n = len(rows)
    single = sum(1 for r in rows if len(r["labels"]) == 1)
    if single:
        notes.append(f"{single} of {n} segments have a single rater: their vote share is 1.0 by construction "
                     "and says nothing about agreement.")
    prelabel_only = sum(1 for r in rows if not r["labels"])
    if prelabel_only:
        notes.append(f"{prelabel_only} segments have no human label, only the teacher model's prediction "
                     "(`category`, `valence`, `arousal` are null there; use `teacher`). Treat them as weak labels.")
    unknown = sum(1 for r in rows if r["speaker"] is None)
    if unknown:
        notes.append(f"{unknown} segments have no known speaker (off-screen speech or an unmatched face); "
                     "for the splits their whole video is treated as one speaker.")
    notes.append("Speaker identities come from automatic face clustering within each video (`videoN:faceK`) "
                 "or from matching reference photos (`person:Name`); the same person in two videos is only "
                 "recognised as one speaker when named, so speaker-disjointness across videos is not guaranteed "
                 "for unnamed people.")
    notes.append("Which face is speaking is inferred from voice activity and mouth motion; a segment may "
                 "occasionally contain a different speaker, overlapping speech, music or laughter "
                 "(raters could flag this; see `flags`).")
    if any(r["teacher"] for r in rows):
        notes.append("Teacher predictions come from a facial-expression model applied to the face crops: they "
                     "describe the face, not the voice, carry the biases of the model's training data, and "
                     "raters who saw them may have been anchored by them.")
    no_licence = sum(1 for v in _sources(rows) if not v["license"])
    if no_licence:
        notes.append(f"{no_licence} source video(s) have no licence recorded: check the rights before "
                     "redistributing their audio or faces.")
    counts = class_split_counts(rows)
    sizes = [counts[c]["total"] for c in EMOTIONS if c in counts]
    missing = [c for c in EMOTIONS if c not in counts]
    if missing:
        notes.append(f"No segment has the category {', '.join(missing)}.")
    if sizes and min(sizes) * 5 < max(sizes):
        notes.append("Classes are strongly imbalanced (see the table); report per-class recall or "
                     "unweighted average recall, not accuracy alone.")
    if agreement.alpha_category is not None and agreement.alpha_category < 0.667:
        notes.append(f"Category agreement is low (α = {agreement.alpha_category:.2f} < 0.667, Krippendorff's "
                     "threshold for tentative conclusions): emotion in spontaneous speech is ambiguous, so "
                     "consider soft labels (the per-rater `labels`) rather than the majority alone.")
    if skipped:
        notes.append("Segments left out by the filters or for missing files: "
                     + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(skipped.items())) + ".")
    notes.append("Faces and voices of real people: use for research on emotion recognition only, respect "
                 "the source licences and the people shown, and do not try to identify them.")
    return notes


def render_card(rows: list[dict], *, export_id: int, created_at: str, params: dict, zip_name: str,
                agreement: Agreement, skipped: dict, teacher_models: dict, splits_info: dict,
                reviewed: int = 0) -> str:
    counts = class_split_counts(rows)
    split_totals = {s: sum(1 for r in rows if r["split"] == s) for s in SPLITS}
    sources = _sources(rows)
    licences = Counter(v["license"] or "(not recorded)" for v in sources)
    hours = sum(v["seconds"] for v in sources) / 3600
    faces = sum(len(r["faces"]) for r in rows)
    speakers = len({r["speaker"] for r in rows if r["speaker"]})
    reviewed_note = ("A reviewer's final label, when one exists, replaces the majority (its vote share is then "
                     f"the share of raters who agreed with the reviewer); {reviewed} segment(s) have one.")
    lines = [
        f"# Emotion speech corpus - export {export_id}",
        "",
        f"Made by labelstudio_emo on {created_at} (UTC). {len(rows)} speech segments "
        f"({hours:.2f} h) from {len(sources)} videos, {speakers} known speakers, "
        f"{agreement.labels} human labels by {agreement.raters} raters, {faces} face crops.",
        "",
        "Each segment is one person speaking in one camera shot for a few seconds, with the audio "
        "(16 kHz mono WAV), face crops of the speaker when visible, every rater's label "
        "(one of 7 categories plus valence and arousal in [-1, 1]), an aggregate label, a model "
        "prediction, and a speaker-disjoint train/val/test split.",
        "",
        "Cite it as: *labelstudio_emo corpus, export "
        f"{export_id} ({created_at[:10]}), file `{zip_name}`*, and give the SHA-256 of the zip "
        "file (shown on the Exports page) so readers can check they have the same data.",
        "",
        "## Files",
        "",
        "| path | what |",
        "|---|---|",
        "| `manifest.jsonl` | one JSON object per segment (fields below) |",
        "| `manifest.csv` | the same rows; `faces`, `labels` and `teacher` are JSON strings |",
        "| `audio/<segment_id>.wav` | the segment's audio, 16 kHz mono PCM WAV |",
        "| `faces/<segment_id>/<n>.jpg` | 112 px face crops of the speaker along the segment (none for off-screen speech) |",
        "| `splits.json` | segment ids per split, the seed and how the splits were made |",
        "| `plots/*.png` | class distribution, valence/arousal per class, agreement |",
        "| `SHA256SUMS` | checksums of every other file: `sha256sum -c SHA256SUMS` |",
        "",
        "## Manifest fields",
        "",
        "| field | meaning |",
        "|---|---|",
        "| `segment_id`, `video_id` | database ids (stable within this installation) |",
        "| `video_url`, `video_title`, `channel`, `license` | the source video and its licence as published |",
        "| `start`, `end` | seconds from the start of the source video |",
        "| `speaker` | speaker identity (`person:Name` or `videoN:faceK`), null when unknown |",
        "| `speaker_hint` | the speaker named at import (CSV `speaker` column), null when none; videos with "
        "the same hint share a split |",
        "| `audio`, `faces` | paths inside this zip |",
        "| `labels` | every rater's label: `annotator` (a pseudonym, the same person has the same pseudonym in every export), `category`, `valence`, `arousal`, `flags` |",
        "| `category`, `vote_share` | majority category and the share of raters who chose it; ties go to the category that comes first in the order below |",
        "| `valence`, `arousal` | mean of the raters' values, in [-1, 1] |",
        "| `teacher` | the pre-labelling model's output on the face crops: `model` (name@version), `probs` (7 probabilities in the order below), `valence`, `arousal`; null when there is none |",
        "| `split` | `train`, `val` or `test` |",
        "",
        f"Category order (FER2013): {', '.join(EMOTIONS)}. Valence: negative to positive; arousal: calm to "
        "excited; both in [-1, 1]. Flags a rater could set: not the speaker, several speakers, no face, bad "
        "audio, unsure.",
        "",
        "## How it was made",
        "",
        "1. Videos were downloaded with yt-dlp (or uploaded) and their audio converted with ffmpeg to "
        "16 kHz mono.",
        "2. Shots were found with PySceneDetect; faces were detected, tracked and clustered per video with "
        "face_recognition (dlib); the speaking face was chosen from voice activity (WebRTC VAD) and mouth "
        "motion; a segment is one speech turn inside one shot.",
        "3. A teacher model labelled the face crops (`teacher`); raters saw these pre-labels unless hidden.",
        "4. Human raters (annotators of this project) listened to each segment, watched the face, and chose "
        "a category, valence, arousal and flags. Segments were given to several raters each, most "
        "uncertain pre-label first.",
        f"5. Aggregation: majority category, mean valence/arousal. {reviewed_note}",
        "6. Export filters used (segments not meeting them are left out):",
        "",
        "```json",
        _json(params),
        "```",
        "",
        "Meaning: `min_labels` human labels per segment; `min_agreement` minimum vote share; "
        "`exclude_flags` drops segments that half or more of their raters flagged so; `date_from`/`date_to` "
        "keep only labels created in that range (UTC days); `videos` limits the source videos (empty = all); "
        "`include_prelabel_only` also keeps segments that have only a teacher prediction; `seed` fixes the splits.",
        "",
        "## Counts per class and split",
        "",
        "| category | train | val | test | total |",
        "|---|---:|---:|---:|---:|",
        *[f"| {c} | {v['train']} | {v['val']} | {v['test']} | {v['total']} |" for c, v in counts.items()],
        f"| **all** | {split_totals['train']} | {split_totals['val']} | {split_totals['test']} | {len(rows)} |",
        "",
        "`none` = no human label (teacher prediction only).",
        "",
        "![class distribution](plots/class_distribution.png)",
        "",
        "![valence and arousal per class](plots/valence_arousal.png)",
        "",
        "## Agreement",
        "",
        f"Computed on the {agreement.units} segments with two or more raters "
        f"({agreement.raters} raters in total, {agreement.labels} labels).",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| Krippendorff's α, category (nominal) | {_fmt(agreement.alpha_category)} |",
        f"| Krippendorff's α, valence (interval) | {_fmt(agreement.alpha_valence)} |",
        f"| Krippendorff's α, arousal (interval) | {_fmt(agreement.alpha_arousal)} |",
        f"| mean vote share of the final category | {_fmt(agreement.mean_vote_share)} |",
        f"| segments where all raters agreed | {_fmt(agreement.unanimous_share)} |",
        "",
        "Labels per segment: " + ", ".join(f"{k} label(s): {v} segments" for k, v in agreement.labels_per_segment.items()) + ".",
        "",
        ("Mean vote share per class: " + ", ".join(f"{c} {v:.2f}" for c, v in agreement.per_class_vote_share.items()) + "."
         if agreement.per_class_vote_share else ""),
        "",
        "α is 1 for perfect agreement and 0 for chance; n/a means too few repeated labels to compute it. "
        "It is computed over every segment with two or more labels, valence and arousal as labelled.",
        "",
        "![agreement](plots/agreement.png)",
        "",
        "## Splits",
        "",
        f"{splits_info['method']} Seed {splits_info['seed']}; target fractions "
        f"{', '.join(f'{s} {f:.0%}' for s, f in splits_info['fractions'].items())}. The same database "
        "content, filters and seed give the same splits.",
        "",
        "## Sources and licences",
        "",
        "| licence | videos |",
        "|---|---:|",
        *[f"| {_cell(k)} | {v} |" for k, v in licences.most_common()],
        "",
    ]
    if teacher_models:
        lines += ["Teacher model predictions: " + ", ".join(f"{_cell(m)} ({n} segments)" for m, n in
                                                           sorted(teacher_models.items())) + ".", ""]
    lines += ["| video | title | channel | licence | segments | seconds |", "|---:|---|---|---|---:|---:|"]
    shown = sources[:300]
    lines += [f"| {v['video_id']} | {markdown_link(v['title'] or 'untitled', v['url'])} | {_cell(v['channel'])} | "
              f"{_cell(v['license']) or '(not recorded)'} | {v['segments']} | {v['seconds']:.1f} |" for v in shown]
    if len(sources) > len(shown):
        lines.append(f"\n({len(sources) - len(shown)} more videos: see `video_url` and `license` in the manifest.)")
    lines += ["", "## Known limitations", ""]
    lines += [f"- {note}" for note in limitations(rows, agreement, skipped, params)]
    lines += ["", "## Loading it", "", "```python",
              "import json, zipfile, io, soundfile as sf",
              f"z = zipfile.ZipFile('{zip_name}')",
              "rows = [json.loads(l) for l in z.read('manifest.jsonl').splitlines()]",
              "train = [r for r in rows if r['split'] == 'train' and r['category']]",
              "audio, rate = sf.read(io.BytesIO(z.read(train[0]['audio'])))  # rate == 16000",
              "```", ""]
    return "\n".join(lines)


def _json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True)
