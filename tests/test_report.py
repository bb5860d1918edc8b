"""The review page: content, direction, escaping, self-containment, and a headless render."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aligner import api
from aligner.cli import main
from aligner.report import (
    MAX_HEATMAP_CELLS,
    ReviewPair,
    render_report,
    review_pairs,
    text_direction,
)
from aligner.types import Alignment, Document, DocumentPair, Link, PreparedDocument, Sentence

PERSIAN = re.compile("[پچژگکی]")  # letters Persian has and Arabic has not
ARABIC = re.compile("[ةيكأإ]")  # letters Arabic text uses and Persian text does not


VOID_TAGS = frozenset(("meta", "br", "img", "link", "input", "hr", "wbr", "source"))


class Page(HTMLParser):
    """The parts of a page the tests look at: every element with class "text" (its lang,
    dir and text), all text, ids, hrefs and the tags used."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str], list[str]]] = []
        self.cells: list[tuple[dict[str, str], str]] = []
        self.text: list[str] = []
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.tags: set[str] = set()
        self.feed(source)

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        self.tags.add(tag)
        if "id" in a:
            self.ids.add(a["id"])
        if "href" in a:
            self.hrefs.append(a["href"])
        if tag not in VOID_TAGS:
            self.stack.append((tag, a, []))

    def handle_endtag(self, tag):
        while self.stack:
            name, attrs, parts = self.stack.pop()
            if "text" in attrs.get("class", "").split():
                self.cells.append((attrs, "".join(parts)))
            if self.stack:
                self.stack[-1][2].extend(parts)
            if name == tag:
                break

    def handle_data(self, data):
        self.text.append(data)
        if self.stack:
            self.stack[-1][2].append(data)

    def all_text(self) -> str:
        return "".join(self.text)


def prepared(doc_id, lang, texts, removed=()):
    sentences = tuple(Sentence(i, t, t) for i, t in enumerate(texts))
    return PreparedDocument(Document(doc_id, "\n".join(texts)), lang, sentences, tuple(removed))


FA = [
    "وزیر امور خارجه ایران امروز با همتای روسی خود دیدار کرد.",
    "این جمله <script>alert('x')</script> ترجمه ای ندارد & تنهاست.",
    "قیمت نفت خام برنت به هشتاد دلار رسید.",
]
AR = [
    "التقى وزير الخارجية الإيراني اليوم بنظيره الروسي.",
    "وصل سعر خام برنت إلى ثمانين دولارا.",
    "جملة عربية بلا مقابل.",
]


@pytest.fixture
def pair() -> DocumentPair:
    src = prepared("fa-1", "fa", FA, removed=["انتهای پیام", "کد خبر: 123"])
    tgt = prepared("ar-1", "ar", AR, removed=["/انتهى/"])
    links = (Link((0,), (0,), 0.93), Link((2,), (1,), 0.58))
    return DocumentPair(src, tgt, 0.61, 0.05, Alignment(src, tgt, links))


def test_rtl_languages():
    for lang in ("fa", "ar", "ur", "he", "ps", "ckb", "fa-IR", "ku-Arab", "sd"):
        assert text_direction(lang) == "rtl", lang
    for lang in ("en", "fr", "tr", "ku", "az-Latn"):
        assert text_direction(lang) == "ltr", lang
    assert text_direction("und") == text_direction(None) == "auto"


def test_page_shows_both_documents_right_to_left(pair):
    sims = np.random.default_rng(0).uniform(-0.1, 0.4, (3, 3))
    page = Page(render_report([ReviewPair(pair, sims)], [pair.src, pair.tgt]))
    cells = page.cells
    assert cells and all(a["dir"] == "rtl" and a["lang"] in ("fa", "ar") for a, _ in cells)
    left = " ".join(t for a, t in cells if a["lang"] == "fa")
    right = " ".join(t for a, t in cells if a["lang"] == "ar")
    for sentence in FA:
        assert sentence in left
    for sentence in AR:
        assert sentence in right
    text = page.all_text()
    for line in (*pair.src.removed, *pair.tgt.removed):
        assert line in text
    assert "no counterpart" in text and "Why this pair" in text


def test_page_escapes_document_text_and_is_self_contained(pair):
    html = render_report([ReviewPair(pair, None)])
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert html.count("<script>") == 1  # the page's own few lines
    # nothing is fetched: no external resources of any kind
    for pattern in (
        r"<link\b",
        r"\bsrc=",
        r"@import",
        r"url\(",
        r"https?://(?!www\.w3\.org/2000/svg)",
    ):
        assert not re.search(pattern, html), pattern


def test_index_links_to_every_pair_and_evidence_is_shown(pair):
    page = Page(render_report([ReviewPair(pair), ReviewPair(pair)]))
    assert {"pair-1", "pair-2", "pairs"} <= page.ids
    assert page.hrefs.count("#pair-1") >= 1 and "#pair-2" in page.hrefs
    assert all(h.startswith("#") for h in page.hrefs)
    text = page.all_text()
    for label in ("retrieval score", "source coverage", "target coverage", "mean link score"):
        assert label in text
    assert f"{pair.alignment.src_coverage * 100:.1f}%" in text


def test_heatmap_draws_the_alignment_path(pair):
    sims = np.eye(3)
    html = render_report([ReviewPair(pair, sims)])
    assert html.count('<rect class="path"') == len(pair.alignment.links)
    assert "<svg" in html and "<polyline" in html
    assert html.count("<title>fa ") == 9  # one cell per sentence pair, with its cosine


def test_large_heatmaps_are_pooled(pair):
    sims = np.zeros((2 * MAX_HEATMAP_CELLS + 5, MAX_HEATMAP_CELLS))
    html = render_report([ReviewPair(pair, sims)])
    assert html.count("max cos") <= MAX_HEATMAP_CELLS**2


def test_segments_below_min_score_are_marked(pair):
    html = render_report([ReviewPair(pair)], min_score=0.7)
    assert html.count('class="link filtered"') == 1 and "not exported" in html


def test_empty_report_says_so():
    assert "No document pair was matched" in render_report([])


# ---------------------------------------------------------------------------- the seeds


@pytest.fixture(scope="module")
def seeds_page(seeds_dir: Path, tmp_path_factory) -> tuple[Path, api.MatchResult]:
    result = api.match(api.load_documents([seeds_dir]), "builtin")
    assert result.pairs and result.embedder is not None
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(
        render_report(review_pairs(result.pairs, result.embedder), result.documents),
        encoding="utf-8",
    )
    return path, result


def assert_every_sentence_shown(page: Page, result: api.MatchResult) -> None:
    by_lang = {}
    for attrs, text in page.cells:
        by_lang.setdefault(attrs["lang"], []).append(" ".join(text.split()))
    for p in result.pairs:
        for doc in (p.src, p.tgt):
            shown = " ".join(by_lang[doc.lang])
            for sentence in doc.sentences:
                assert " ".join(sentence.text.split()) in shown, (doc.id, sentence.index)


def test_seeds_page(seeds_page):
    path, result = seeds_page
    page = Page(path.read_text(encoding="utf-8"))
    assert_every_sentence_shown(page, result)
    assert {a["dir"] for a, _ in page.cells} == {"rtl"}
    assert page.all_text().count("Why this pair") == len(result.pairs)


def test_cli_report_and_html_option(seeds_dir: Path, tmp_path):
    runner = CliRunner()
    out = tmp_path / "page.html"
    result = runner.invoke(main, ["report", str(seeds_dir), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "review page written" in result.stderr
    first = out.read_text(encoding="utf-8")
    assert "Matched pairs (1)" in first  # the seeds hold one true pair
    html = tmp_path / "m.html"
    result = runner.invoke(main, ["match", str(seeds_dir), "-o", "-", "--html", str(html)])
    assert result.exit_code == 0 and html.read_text(encoding="utf-8").count('class="pair"') == 1
    fa, ar = seeds_dir / "001_2ad9410abe4922a4.txt", seeds_dir / "004_e5f69c90d0bd1dfa.txt"
    html = tmp_path / "a.html"
    result = runner.invoke(main, ["align", str(fa), str(ar), "--html", str(html)])
    assert result.exit_code == 0
    assert "n/a" in html.read_text(encoding="utf-8")  # no retrieval step in `align`


# ---------------------------------------------------------------------------- headless render

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_headless_render(seeds_page, tmp_path):
    path, result = seeds_page
    flags = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [*flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    page = Page(dom)
    assert page.cells, "the browser produced no page"
    text = page.all_text()
    assert PERSIAN.search(text) and ARABIC.search(text)
    for attrs, _ in page.cells:
        assert attrs["dir"] == "rtl" and attrs["lang"] in ("fa", "ar")
    assert_every_sentence_shown(page, result)
    png = tmp_path / "page.png"
    subprocess.run(
        [*flags, f"--screenshot={png}", "--window-size=1400,1800", path.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_heatmap_has_a_colour_scale_and_says_what_dark_cells_off_the_path_are(pair):
    sims = np.array([[0.9, 0.1, 0.2], [0.0, 0.1, 0.6], [0.1, 0.7, 0.0]])
    html = render_report([ReviewPair(pair, sims)])
    legend = html[html.index('<div class="heatlegend"') :]
    legend = legend[: legend.index("</div>")]
    assert "linear-gradient" in legend
    lo, hi = np.median(sims), sims.max()
    assert f">{lo:.2f}<" in legend and f">{hi:.2f}<" in legend  # the values the bar maps
    assert "cosine" in legend
    assert "similar sentences that were not linked" in html
    assert "rejected" in html


def test_rejected_candidates_are_listed_with_the_reason(seeds_dir: Path, tmp_path) -> None:
    """A run that matches nothing still shows what was verified and why it was turned down."""
    fa = seeds_dir / "000_0b3d61da6e3e4f39.txt"
    ar = seeds_dir / "002_0b3d9faf541c66ac.txt"
    out = tmp_path / "r.html"
    result = CliRunner().invoke(main, ["report", str(fa), str(ar), "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = Page(out.read_text(encoding="utf-8")).all_text()
    assert "Matched pairs (0)" in page
    assert "Candidates verified and rejected (1)" in page
    assert "000_0b3d61da6e3e4f39" in page and "same-event probability" in page
