"""The review page: one self-contained HTML file to check matches and alignments by eye.

For each matched document pair: the evidence that made it a match, a heatmap of sentence
similarities with the chosen alignment path drawn on it, and the two documents side by side,
segment by segment, coloured by score, with unaligned sentences and removed boilerplate set
apart. Everything is inline (CSS, SVG, a few lines of JS): the file opens offline and can be
mailed around. `render_report` is a pure function from data to an HTML string; every text
that comes from a document goes through `_esc`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from aligner.embedding import Embedder
from aligner.types import DocumentPair, Link, PreparedDocument
from aligner.writers import strip_xml_illegal

# Languages written right to left (ISO 639 codes as langid and users give them).
RTL_LANGUAGES = frozenset((
    "ar", "arz", "ary", "arq", "acm", "apc", "ajp", "aeb", "fa", "prs", "pes", "ur", "he",
    "iw", "yi", "ps", "ckb", "sd", "ug", "dv", "ks", "syr", "azb", "pnb", "skr", "bal", "lrc",
    "mzn", "glk", "bqi", "sdh", "nqo",
))  # fmt: skip
LANGUAGE_NAMES = {
    "fa": "Persian", "ar": "Arabic", "en": "English", "ur": "Urdu", "he": "Hebrew",
    "ps": "Pashto", "ckb": "Central Kurdish", "tr": "Turkish", "fr": "French",
    "ru": "Russian", "de": "German", "es": "Spanish", "zh": "Chinese", "und": "undetermined",
}  # fmt: skip
# Heatmaps larger than this (in cells per side) are pooled by block maximum.
MAX_HEATMAP_CELLS = 160
# Smallest cosine range the heatmap's colour scale spans (centred vectors: unrelated ~0).
MIN_HEATMAP_SPAN = 0.15


@dataclass(frozen=True)
class ReviewPair:
    """A matched pair with what the page needs beyond it: the sentence similarity matrix
    (cosines of the centred sentence vectors, source rows x target columns)."""

    pair: DocumentPair
    similarity: np.ndarray | None = None


def text_direction(lang: str | None) -> str:
    """ "rtl" or "ltr" for a language code (also "fa-IR", "ku-Arab"); "auto" when unknown."""
    if not lang or lang == "und":
        return "auto"
    parts = lang.replace("_", "-").lower().split("-")
    if "arab" in parts or "hebr" in parts or "thaa" in parts or "syrc" in parts:
        return "rtl"
    if "latn" in parts or "cyrl" in parts:
        return "ltr"
    return "rtl" if parts[0] in RTL_LANGUAGES else "ltr"


def language_name(lang: str) -> str:
    return LANGUAGE_NAMES.get(lang.split("-")[0].lower(), lang)


def similarity_matrix(embedder: Embedder, pair: DocumentPair) -> np.ndarray | None:
    """Cosines of the pair's centred sentence vectors (what the aligner compares)."""
    if not pair.src.sentences or not pair.tgt.sentences:
        return None
    src, tgt = embedder.sentences(pair.src), embedder.sentences(pair.tgt)
    return np.asarray(src @ tgt.T, dtype=np.float64)


def review_pairs(pairs: Sequence[DocumentPair], embedder: Embedder | None) -> list[ReviewPair]:
    return [ReviewPair(p, similarity_matrix(embedder, p) if embedder else None) for p in pairs]


def _esc(text: object) -> str:
    return html.escape(strip_xml_illegal(str(text)), quote=True)


def _lang_attrs(lang: str) -> str:
    return f'lang="{_esc(lang)}" dir="{text_direction(lang)}"'


def score_colour(score: float, lightness: int = 86) -> str:
    """Red at the link threshold (0.5), through yellow, to green at 1."""
    hue = 120 * min(max((score - 0.5) / 0.5, 0.0), 1.0)
    return f"hsl({hue:.0f}, 70%, {lightness}%)"


def _fmt(value: float, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:.1f}%" if percent else f"{value:.3f}"


# ---------------------------------------------------------------------------- the page


def render_report(
    pairs: Sequence[ReviewPair],
    documents: Sequence[PreparedDocument] = (),
    meta: Mapping[str, str] | None = None,
    min_score: float = 0.0,
    title: str = "aligner review",
    rejected: Sequence[DocumentPair] = (),
) -> str:
    """The whole review page as one HTML string. `documents` (all documents read) lets the
    page list those left without a match; `meta` is shown as run information; links below
    `min_score` are marked as not exported; `rejected` (verified candidates that were not
    matched) are listed with the reason."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{_esc(title)}</h1>{_meta(meta or {})}</header>",
        _index(pairs, documents, min_score),
        _rejected(rejected),
    ]
    for number, item in enumerate(pairs, start=1):
        parts.append(_pair_section(number, item, min_score))
    parts.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(parts) + "\n"


def _rejected(rejected: Sequence[DocumentPair]) -> str:
    """The candidates that were verified and not matched, best first, with why."""
    if not rejected:
        return ""
    rows = []
    for p in sorted(rejected, key=lambda p: (-p.score, p.src.id, p.tgt.id)):
        verdict = p.verdict
        found = verdict.evidence if verdict else {}
        reason = (verdict.reason if verdict and verdict.reason else "a better pair took one of "
                  "its documents")  # fmt: skip
        rows.append(
            f"<tr><td>{_esc(p.src.id)} <span class='lang'>{_esc(p.src.lang)}</span></td>"
            f"<td>{_esc(p.tgt.id)} <span class='lang'>{_esc(p.tgt.lang)}</span></td>"
            f'<td class="num">{_fmt(p.score)}</td>'
            f'<td class="num">{_fmt(found.get("coverage", 0.0), percent=True)}</td>'
            f'<td class="num">{_fmt(found.get("margin", 0.0))}</td>'
            f'<td class="num">{len(p.alignment.links)}</td><td>{_esc(reason)}</td></tr>'
        )
    return (
        f'<section id="rejected"><h2>Candidates verified and rejected ({len(rejected)})</h2>'
        "<p>Pairs that retrieval proposed and the verdict turned down: their sentences do "
        "not translate each other well enough, or another pair was better.</p>"
        '<table class="index"><thead><tr><th>source document</th><th>target document</th>'
        "<th>same-event score</th><th>coverage</th><th>counterpart margin</th><th>links</th>"
        f"<th>why not matched</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _meta(meta: Mapping[str, str]) -> str:
    if not meta:
        return ""
    items = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in meta.items())
    return f'<dl class="meta">{items}</dl>'


def _index(
    pairs: Sequence[ReviewPair], documents: Sequence[PreparedDocument], min_score: float
) -> str:
    rows = []
    for number, item in enumerate(pairs, start=1):
        p = item.pair
        exported = sum(1 for link in p.alignment.links if link.score >= min_score)
        rows.append(
            f'<tr><td class="num"><a href="#pair-{number}">{number}</a></td>'
            f'<td><a href="#pair-{number}">{_esc(p.src.id)}</a> '
            f'<span class="lang">{_esc(p.src.lang)}</span></td>'
            f'<td><a href="#pair-{number}">{_esc(p.tgt.id)}</a> '
            f'<span class="lang">{_esc(p.tgt.lang)}</span></td>'
            f'<td class="num">{_fmt(p.score)}{_bar(p.score)}</td>'
            f'<td class="num">{_fmt(p.retrieval_score)}</td>'
            f'<td class="num">{len(p.alignment.links)}</td><td class="num">{exported}</td></tr>'
        )
    table = (
        '<table class="index"><thead><tr><th>#</th><th>source document</th>'
        "<th>target document</th><th>same-event score</th><th>retrieval score</th>"
        "<th>links</th><th>exported</th></tr></thead><tbody>"
        + ("".join(rows) or '<tr><td colspan="7">No document pair was matched.</td></tr>')
        + "</tbody></table>"
    )
    paired = {p.pair.src.id for p in pairs} | {p.pair.tgt.id for p in pairs}
    unmatched = [d for d in documents if d.id not in paired]
    lonely = ""
    if unmatched:
        items = "".join(
            f"<li>{_esc(d.id)} <span class='lang'>{_esc(d.lang)}</span> "
            f"({len(d.sentences)} sentences)</li>"
            for d in unmatched
        )
        lonely = f"<h3>Documents without a match ({len(unmatched)})</h3><ul>{items}</ul>"
    return (
        f'<section id="pairs"><h2>Matched pairs ({len(pairs)})</h2>{table}{_LEGEND}'
        f"{lonely}</section>"
    )


_LEGEND = (
    '<p class="legend">Segments are coloured by link score: '
    f'<span class="chip" style="background:{score_colour(0.5)}">0.5 (threshold)</span> '
    f'<span class="chip" style="background:{score_colour(0.75)}">0.75</span> '
    f'<span class="chip" style="background:{score_colour(1.0)}">1.0</span> · '
    '<span class="chip gapchip">no counterpart</span> · '
    '<span class="chip removedchip">removed as boilerplate</span></p>'
)


def _pair_section(number: int, item: ReviewPair, min_score: float) -> str:
    p = item.pair
    src, tgt = p.src, p.tgt
    heading = (
        f'<h2><a class="back" href="#pairs" title="back to the list">↑</a> {number}. '
        f'{_esc(src.id)} <span class="lang">{_esc(src.lang)}</span> ↔ '
        f'{_esc(tgt.id)} <span class="lang">{_esc(tgt.lang)}</span></h2>'
    )
    return (
        f'<section class="pair" id="pair-{number}">{heading}{_titles(p)}'
        f'<div class="overview">{_evidence(p)}{_heatmap(number, item)}</div>'
        f"{_side_by_side(number, p, min_score)}{_removed(src, tgt)}</section>"
    )


def _titles(p: DocumentPair) -> str:
    """Title, date, address and origin of both documents, where the input gave them."""
    cells = []
    for doc in (p.src, p.tgt):
        title = doc.doc.display_title  # the input's title, or the first line
        bits = [f"<b {_lang_attrs(doc.lang)}>{_esc(title)}</b>"] if title else []
        bits += [f"<bdi>{_esc(x)}</bdi>" for x in (doc.doc.date, doc.doc.url, doc.doc.origin) if x]
        cells.append(f"<div>{' · '.join(bits)}</div>")
    return f'<div class="docinfo">{"".join(cells)}</div>'


_EVIDENCE_LABELS = {
    "retrieval_score": ("retrieval score", "margin of the document vectors over their neighbours"),
    "src_coverage": ("source coverage", "share of the source text inside aligned segments"),
    "tgt_coverage": ("target coverage", "share of the target text inside aligned segments"),
    "mean_link_score": ("mean link score", "confidence of the links, weighted by size"),
    "links": ("links", "aligned segments"),
}


def _evidence(p: DocumentPair) -> str:
    evidence = p.evidence
    rows = [
        _bar_row("same-event score", p.score, "coverage (harmonic mean) × mean link score", False)
    ]
    for key, value in evidence.items():
        label, why = _EVIDENCE_LABELS.get(key, (key.replace("_", " "), ""))
        if key == "links":
            text = (
                f"{int(value)} <small>({len(p.src.sentences)} {_esc(p.src.lang)} / "
                f"{len(p.tgt.sentences)} {_esc(p.tgt.lang)} sentences)</small>"
            )
            rows.append(f"<tr><th title='{_esc(why)}'>{_esc(label)}</th><td>{text}</td></tr>")
        else:
            rows.append(_bar_row(label, value, why, key.endswith("coverage")))
    src_name, tgt_name = language_name(p.src.lang), language_name(p.tgt.lang)
    why = (
        f"{_fmt(evidence.get('src_coverage', 0.0), True)} of the {_esc(src_name)} text and "
        f"{_fmt(evidence.get('tgt_coverage', 0.0), True)} of the {_esc(tgt_name)} text align "
        f"in {_plural(int(evidence.get('links', 0)), 'segment')} with a mean link score of "
        f"{_fmt(evidence.get('mean_link_score', 0.0))}."
    )
    return (
        f'<div class="evidence"><h3>Why this pair</h3><table>{"".join(rows)}</table>'
        f'<p class="why">{why}</p></div>'
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _bar(value: float) -> str:
    width = 0.0 if math.isnan(value) else min(max(value, 0.0), 1.0) * 100
    return f'<span class="bar"><span style="width:{width:.1f}%"></span></span>'


def _bar_row(label: str, value: float, why: str, percent: bool) -> str:
    return (
        f"<tr><th title='{_esc(why)}'>{_esc(label)}</th><td>{_fmt(value, percent)}"
        f"{_bar(value)}<small>{_esc(why)}</small></td></tr>"
    )


# ---------------------------------------------------------------------------- side by side


def _rows(p: DocumentPair) -> Iterator[tuple[Link | None, list[int], list[int]]]:
    """The page's rows in document order: (link, src, tgt) for a segment and (None, src,
    tgt) for the sentences between two segments that have no counterpart (alignments are
    monotone, so the gaps of both sides line up)."""
    i = j = 0
    for link in p.alignment.links:
        gap_src, gap_tgt = list(range(i, link.src[0])), list(range(j, link.tgt[0]))
        if gap_src or gap_tgt:
            yield None, gap_src, gap_tgt
        yield link, list(link.src), list(link.tgt)
        i, j = link.src[-1] + 1, link.tgt[-1] + 1
    gap_src = list(range(i, len(p.src.sentences)))
    gap_tgt = list(range(j, len(p.tgt.sentences)))
    if gap_src or gap_tgt:
        yield None, gap_src, gap_tgt


def _sentences(doc: PreparedDocument, indices: list[int], prefix: str) -> str:
    spans = "".join(
        f'<span class="sent" id="{prefix}-{i}"><span class="n">{i}</span>'
        f"{_esc(doc.sentences[i].text)}</span> "
        for i in indices
    )
    return f'<td class="text" {_lang_attrs(doc.lang)}>{spans}</td>'


def _side_by_side(number: int, p: DocumentPair, min_score: float) -> str:
    src, tgt = p.src, p.tgt
    body = []
    for k, (link, si, ti) in enumerate(_rows(p)):
        left = _sentences(src, si, f"p{number}-s")
        right = _sentences(tgt, ti, f"p{number}-t")
        if link is None:
            middle = '<td class="score">no<br>counterpart</td>'
            body.append(f'<tr class="gap">{left}{middle}{right}</tr>')
            continue
        below = link.score < min_score
        note = "<br><small>not exported</small>" if below else ""
        middle = f'<td class="score">{link.score:.2f}<br><small>{link.kind}</small>{note}</td>'
        body.append(
            f'<tr class="link{" filtered" if below else ""}" id="p{number}-l{k}" '
            f'data-link="p{number}-l{k}" style="--c:{score_colour(link.score)}">'
            f"{left}{middle}{right}</tr>"
        )
    head = (
        f"<thead><tr><th>{_esc(language_name(src.lang))} · "
        f"<bdi>{_esc(src.id)}</bdi></th><th>score</th><th>"
        f"{_esc(language_name(tgt.lang))} · <bdi>{_esc(tgt.id)}</bdi></th></tr></thead>"
    )
    return f'<h3>Side by side</h3><table class="align">{head}<tbody>{"".join(body)}</tbody></table>'


def _removed(src: PreparedDocument, tgt: PreparedDocument) -> str:
    if not src.removed and not tgt.removed:
        return ""
    cells = []
    for doc in (src, tgt):
        lines = "".join(f"<li>{_esc(line)}</li>" for line in doc.removed) or "<li>none</li>"
        cells.append(f'<ul class="removed" {_lang_attrs(doc.lang)}>{lines}</ul>')
    return (
        f'<details class="boilerplate" open><summary>Removed as boilerplate: '
        f"{len(src.removed)} lines ({_esc(src.lang)}) · {len(tgt.removed)} lines "
        f'({_esc(tgt.lang)})</summary><div class="cols">{"".join(cells)}</div></details>'
    )


# ---------------------------------------------------------------------------- heatmap


def _pool(matrix: np.ndarray, limit: int) -> tuple[np.ndarray, int]:
    """Block maxima so that neither side has more than `limit` cells; and the block size."""
    block = max(1, math.ceil(max(matrix.shape) / limit))
    if block == 1:
        return matrix, 1
    n, m = matrix.shape
    padded = np.full((math.ceil(n / block) * block, math.ceil(m / block) * block), -np.inf)
    padded[:n, :m] = matrix
    pooled = padded.reshape(padded.shape[0] // block, block, padded.shape[1] // block, block)
    return pooled.max(axis=(1, 3)), block


def _heat_colour(value: float) -> str:
    """White (unrelated) to deep blue (most similar)."""
    v = min(max(value, 0.0), 1.0)
    r, g, b = (255 - 215 * v, 255 - 175 * v, 255 - 95 * v)
    return f"rgb({r:.0f},{g:.0f},{b:.0f})"


def _heatmap(number: int, item: ReviewPair) -> str:
    p, sims = item.pair, item.similarity
    if sims is None or sims.size == 0:
        return '<div class="heatmap"><h3>Sentence similarity</h3><p>not available</p></div>'
    pooled, block = _pool(sims, MAX_HEATMAP_CELLS)
    rows, cols = pooled.shape
    cell = max(2, min(24, 420 // max(rows, cols)))
    pad = 28  # room for the sentence numbers
    # Scale from the median (typical unrelated pair) to the maximum of this pair; a pair
    # whose best cosine is barely above its median stays pale rather than looking related.
    lo = float(np.median(sims))
    hi = max(float(sims.max()), lo + MIN_HEATMAP_SPAN)
    shapes = []
    for r in range(rows):
        for c in range(cols):
            value = float(pooled[r, c])
            tip = (
                f"{p.src.lang} {r * block} × {p.tgt.lang} {c * block}: cos {value:.3f}"
                if block == 1
                else f"{p.src.lang} {r * block}–{(r + 1) * block - 1} × {p.tgt.lang} "
                f"{c * block}–{(c + 1) * block - 1}: max cos {value:.3f}"
            )
            shapes.append(
                f'<rect x="{pad + c * cell}" y="{pad + r * cell}" width="{cell}" '
                f'height="{cell}" fill="{_heat_colour((value - lo) / (hi - lo))}">'
                f"<title>{_esc(tip)}</title></rect>"
            )
    step = max(1, math.ceil(5 / cell)) * (5 if cell < 8 else 1)
    for r in range(0, rows, step):
        shapes.append(
            f'<text x="{pad - 3}" y="{pad + (r + 0.75) * cell}" class="ax" '
            f'text-anchor="end">{r * block}</text>'
        )
    for c in range(0, cols, step):
        shapes.append(
            f'<text x="{pad + (c + 0.5) * cell}" y="{pad - 4}" class="ax" '
            f'text-anchor="middle">{c * block}</text>'
        )
    # The alignment path: one box per link, joined through their centres.
    centres = []
    for k, (link, si, ti) in enumerate(_rows(p)):
        if link is None:
            continue
        x0, y0 = pad + ti[0] / block * cell, pad + si[0] / block * cell
        w, h = max(len(ti) / block * cell, 2), max(len(si) / block * cell, 2)
        centres.append(f"{x0 + w / 2:.1f},{y0 + h / 2:.1f}")
        shapes.append(
            f'<a href="#p{number}-l{k}"><rect class="path" data-link="p{number}-l{k}" '
            f'x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'stroke="{score_colour(link.score, 40)}"><title>{link.kind} link '
            f"{p.src.lang} {','.join(map(str, si))} × {p.tgt.lang} "
            f"{','.join(map(str, ti))}: score {link.score:.3f}</title></rect></a>"
        )
    if len(centres) > 1:
        shapes.insert(rows * cols, f'<polyline class="route" points="{" ".join(centres)}"/>')
    width, height = pad + cols * cell + 4, pad + rows * cell + 4
    caption = (
        f"Rows: {_esc(language_name(p.src.lang))} sentences, columns: "
        f"{_esc(language_name(p.tgt.lang))} sentences; cosine of the centred sentence "
        f"vectors (white: median {lo:.2f}, blue: {hi:.2f}). Boxes: the chosen alignment. "
        "Dark cells off the boxes are similar sentences that were not linked: repeated "
        "content (the same fact said twice, a quote repeated), or links the aligner "
        "rejected (too weak, or out of order with the rest)."
        + (f" Pooled {block}×{block} (block maximum)." if block > 1 else "")
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="sentence similarity heatmap">'
        f"{''.join(shapes)}</svg>"
    )
    return (
        f'<div class="heatmap"><h3>Sentence similarity</h3>{svg}{_heat_legend(lo, hi)}'
        f'<p class="caption">{caption}</p></div>'
    )


def _heat_legend(lo: float, hi: float, steps: int = 4) -> str:
    """The heatmap's colour scale: a bar from white to blue with the cosines it maps."""
    stops = ", ".join(_heat_colour(k / 8) for k in range(9))
    ticks = "".join(
        f'<span style="left:{100 * k / steps:.0f}%">{lo + (hi - lo) * k / steps:.2f}</span>'
        for k in range(steps + 1)
    )
    return (
        '<div class="heatlegend" role="img" aria-label="colour scale: cosine similarity from '
        f'{lo:.2f} (white) to {hi:.2f} (blue)"><span class="heatbar" '
        f'style="background:linear-gradient(to right, {stops})"></span>'
        f'<span class="heatticks">{ticks}</span><small>cosine similarity (white: the '
        "median, typical of unrelated sentences, and below; blue: the most similar pair)"
        "</small></div>"
    )


_CSS = """
:root { --ink:#1d2430; --muted:#667085; --line:#d9dee7; --gap:#f3f4f6; }
* { box-sizing: border-box; }
body { font: 14px/1.5 system-ui, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--ink);
  margin: 0 auto; padding: 16px 24px 48px; max-width: 1400px; background: #fbfbfd; }
h1 { font-size: 22px; margin: 4px 0; } h2 { font-size: 18px; margin: 0 0 8px; }
h3 { font-size: 14px; margin: 12px 0 6px; color: var(--muted); text-transform: uppercase;
  letter-spacing: .04em; }
a { color: #1f5fbf; text-decoration: none; } a:hover { text-decoration: underline; }
[dir=rtl] { font-family: "Vazirmatn", "Noto Naskh Arabic", "Noto Sans Arabic", Tahoma,
  "DejaVu Sans", sans-serif; font-size: 15px; line-height: 1.8; }
dl.meta { display: flex; flex-wrap: wrap; gap: 2px 18px; margin: 4px 0 12px;
  color: var(--muted); } dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0 0 0 4px; }
dl.meta dt::after { content: ":"; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 14px 18px; margin: 16px 0; }
table { border-collapse: collapse; } .num { text-align: right; }
table.index th, table.index td { padding: 4px 10px; border-bottom: 1px solid var(--line); }
table.index th { text-align: left; color: var(--muted); font-weight: 600; }
.lang { font-size: 11px; color: var(--muted); border: 1px solid var(--line);
  border-radius: 3px; padding: 0 3px; }
.chip { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 12px; }
.gapchip { background: var(--gap); border: 1px dashed #aab; }
.removedchip { background: #fff; color: #99a; text-decoration: line-through;
  border: 1px dotted #bbc; }
.legend { color: var(--muted); }
.docinfo { display: flex; gap: 24px; color: var(--muted); font-size: 12px; }
.docinfo > div { flex: 1; }
.overview { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.evidence { flex: 1 1 380px; } .heatmap { flex: 0 1 auto; }
.evidence th { text-align: left; padding: 3px 12px 3px 0; font-weight: 600;
  white-space: nowrap; vertical-align: top; }
.evidence td { padding: 3px 0; } .evidence small { color: var(--muted); margin-left: 8px; }
.bar { display: inline-block; width: 120px; height: 8px; background: #eef0f4;
  border-radius: 4px; margin-left: 8px; vertical-align: middle; overflow: hidden; }
.bar span { display: block; height: 100%; background: #3b82c4; }
.why { margin: 8px 0 0; padding: 8px 10px; background: #f4f8fc; border-radius: 6px; }
.heatmap svg { display: block; } .heatmap .caption { color: var(--muted); font-size: 12px;
  max-width: 460px; }
.ax { font: 9px sans-serif; fill: #889; }
.heatlegend { margin: 8px 0 0 28px; max-width: 260px; font-size: 11px; color: var(--muted); }
.heatbar { display: block; height: 10px; border: 1px solid var(--line); border-radius: 2px; }
.heatticks { display: block; position: relative; height: 14px; }
.heatticks span { position: absolute; transform: translateX(-50%);
  font-variant-numeric: tabular-nums; }
rect.path { fill: none; stroke-width: 2; } rect.path.hl { stroke: #000; stroke-width: 3; }
polyline.route { fill: none; stroke: #e8590c; stroke-width: 1.2; stroke-dasharray: 3 2; }
table.align { width: 100%; table-layout: fixed; }
table.align th { background: #f6f7f9; padding: 6px 10px; border-bottom: 1px solid var(--line); }
table.align th:nth-child(2), table.align td.score { width: 96px; text-align: center; }
table.align td { padding: 6px 10px; vertical-align: top; border-bottom: 1px solid #fff; }
tr.link td.text, tr.link td.score { background: var(--c); }
tr.link.filtered td { opacity: .55; background-image: repeating-linear-gradient(45deg,
  transparent 0 6px, rgba(255,255,255,.6) 6px 9px); }
tr.link.hl td { outline: 2px solid #000; outline-offset: -2px; }
tr.gap td { background: var(--gap); color: #6b7280; font-size: 13px;
  border-top: 1px dashed #c5c9d2; border-bottom: 1px dashed #c5c9d2; }
td.score { font-variant-numeric: tabular-nums; font-size: 13px; }
td.score small { color: var(--muted); }
.sent .n { display: inline-block; min-width: 1.6em; margin-inline-end: 4px; padding: 0 3px;
  font: 10px/1.6 sans-serif; color: #556; background: rgba(255,255,255,.7);
  border-radius: 3px; text-align: center; vertical-align: 2px; }
.boilerplate summary { cursor: pointer; color: var(--muted); margin-top: 12px; }
.boilerplate .cols { display: flex; gap: 24px; } .boilerplate .cols > ul { flex: 1; }
ul.removed { list-style: none; padding: 8px 12px; margin: 6px 0; border: 1px dotted #bbc;
  border-radius: 6px; color: #99a; font-size: 13px; }
ul.removed li { text-decoration: line-through; }
a.back { color: var(--muted); }
"""

# Hovering a segment highlights its box on the heatmap, and the other way round.
_JS = """
document.querySelectorAll('[data-link]').forEach(function (el) {
  function mark(on) {
    document.querySelectorAll('[data-link="' + el.dataset.link + '"]').forEach(
      function (x) { x.classList.toggle('hl', on); });
  }
  el.addEventListener('mouseenter', function () { mark(true); });
  el.addEventListener('mouseleave', function () { mark(false); });
});
"""
