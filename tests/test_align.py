"""Each alignment type on constructed documents, with the real built-in encoder."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aligner.alignment import AlignParams, align_embeddings, embed_side
from aligner.api import align
from aligner.encoders import BuiltinEncoder
from aligner.types import Document

# Ten distinct Persian news sentences (no shared content words between them).
S = [
    "وزیر امور خارجه ایران امروز با همتای روسی خود در مسکو دیدار کرد.",
    "قیمت نفت خام برنت در بازارهای جهانی به هشتاد دلار رسید.",
    "تیم ملی فوتبال در بازی دوستانه مقابل ژاپن به پیروزی رسید.",
    "سازمان هواشناسی برای استان های شمالی هشدار باران شدید صادر کرد.",
    "دانشمندان دانشگاه تهران واکسن جدیدی برای آنفولانزا ساختند.",
    "بانک مرکزی نرخ بهره را برای مهار تورم افزایش داد.",
    "زلزله ای به بزرگی پنج ریشتر شهر کرمان را لرزاند.",
    "نمایشگاه بین المللی کتاب با حضور ناشران خارجی گشایش یافت.",
    "مجلس لایحه بودجه سال آینده را پس از سه هفته بحث تصویب کرد.",
    "شرکت هواپیمایی ملی پروازهای خود به اروپا را از سر گرفت.",
]
JUNK = "کلیک کنید و در قرعه کشی هفتگی جایزه ببرید"
ENCODER = BuiltinEncoder(dim=256)


def run(src: list[str], tgt: list[str]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    encoder = BuiltinEncoder()
    a = embed_side(src, encoder)
    b = embed_side(tgt, encoder)
    return [(link.src, link.tgt) for link in align_embeddings(a, b)]


def merged(*indices: int) -> str:
    return " ".join(S[i].rstrip(".") + "،" for i in indices)[:-1] + "."


def test_one_to_one():
    assert run(S[:5], S[:5]) == [((i,), (i,)) for i in range(5)]


def test_one_to_two_and_two_to_one():
    links = run(S[:6], [S[0], S[1], merged(2, 3), S[4], S[5]])
    assert ((2, 3), (2,)) in links
    links = run([S[0], merged(1, 2), S[3], S[4]], S[:5])
    assert ((1,), (1, 2)) in links


def test_one_to_three_and_three_to_one():
    links = run(S[:7], [S[0], merged(1, 2, 3), S[4], S[5], S[6]])
    assert ((1, 2, 3), (1,)) in links
    links = run([S[0], S[1], merged(2, 3, 4), S[5]], S[:6])
    assert ((2,), (2, 3, 4)) in links


def test_two_to_two_when_the_boundary_moves():
    # src: [A+B][C], tgt: [A][B+C]: neither 1-1 fits, the 2-2 segment does
    a, b, c = S[1].rstrip("."), S[2].rstrip("."), S[3].rstrip(".")
    src = [S[0], f"{a}، {b}.", f"{c}.", S[4]]
    tgt = [S[0], f"{a}.", f"{b}، {c}.", S[4]]
    links = run(src, tgt)
    assert ((1, 2), (1, 2)) in links
    assert ((0,), (0,)) in links and ((3,), (3,)) in links


def test_unaligned_sentences_are_left_out():
    links = run([S[0], JUNK, S[1], S[2], S[3]], [S[0], S[1], S[2], S[5], S[3]])
    assert links == [((0,), (0,)), ((2,), (1,)), ((3,), (2,)), ((4,), (4,))]


def test_empty_documents_align_to_nothing():
    assert run([], S[:3]) == []
    assert run(S[:3], []) == []


def test_long_documents_use_a_band_and_stay_correct():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(3000)]
    sentences = [" ".join(rng.choice(words, 8)) + "." for _ in range(2500)]
    target = sentences[:1000] + sentences[1001:]  # one sentence dropped
    encoder = BuiltinEncoder(dim=1024)
    params = AlignParams(full_cells=1_000_000)  # force the banded path
    links = align_embeddings(embed_side(sentences, encoder), embed_side(target, encoder), params)
    correct = sum(
        1 for link in links if len(link.src) == 1 and link.tgt[0] in (link.src[0], link.src[0] - 1)
    )
    assert correct >= 2450
    assert all(link.src != (1000,) for link in links)


def test_cross_language_seed_pair_aligns_the_packed_sentence(seeds_dir):
    # seed 004 (Arabic) packs Persian sentences of seed 001 into its second sentence
    from aligner.readers import read_documents

    docs = {d.id[:3]: d for d in read_documents([seeds_dir])}
    result = align(docs["001"], docs["004"])
    links = {(link.src, link.tgt) for link in result.links}
    for expected in [((4,), (2,)), ((5,), (3,)), ((6,), (4,)), ((7,), (5,)), ((8,), (6,))]:
        assert expected in links


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from([*S, JUNK, "x", "۱۲۳"]), max_size=8),
    st.lists(st.sampled_from([*S, JUNK, "y"]), max_size=8),
)
def test_alignments_are_monotonic_disjoint_and_in_range(src, tgt):
    check_links(run(src, tgt), len(src), len(tgt))


def check_links(links, n: int, m: int) -> None:
    """Monotonic, contiguous, each sentence in at most one link, indices in range."""
    last_src = last_tgt = -1
    for link_src, link_tgt in links:
        assert link_src and link_tgt
        assert list(link_src) == list(range(link_src[0], link_src[-1] + 1))
        assert list(link_tgt) == list(range(link_tgt[0], link_tgt[-1] + 1))
        assert link_src[0] > last_src and link_tgt[0] > last_tgt
        assert link_src[-1] < n and link_tgt[-1] < m
        last_src, last_tgt = link_src[-1], link_tgt[-1]


# Random documents, empty ones included: lines of words from Persian, Arabic, Latin,
# digits, punctuation and odd characters, through the whole prepare + align path.
WORDS = [*" ".join(S).split(), "و", "في", "the", "۱۲۳", "😀", "你好。", "\u200f", "?!", ""]
DOCUMENT = st.lists(st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join), max_size=10).map(
    "\n".join
)


@settings(max_examples=60, deadline=None)
@given(DOCUMENT, DOCUMENT, st.sampled_from([None, AlignParams(full_cells=4)]))
def test_random_documents_align_monotonically(src_text, tgt_text, params):
    # full_cells=4 sends all but the tiniest pairs through the banded DP
    result = align(Document("a", src_text), Document("b", tgt_text), ENCODER, params)
    check_links(
        [(link.src, link.tgt) for link in result.links],
        len(result.src.sentences),
        len(result.tgt.sentences),
    )


@pytest.mark.parametrize("text", ["", "   ", "کلمه"])
def test_degenerate_documents_do_not_crash(text):
    result = align(Document("a", text), Document("b", S[0]))
    assert len(result.links) <= 1


def _random_side(rng: np.random.Generator, n: int, max_group: int = 3):
    from aligner.alignment import SideEmbeddings

    base = rng.standard_normal((n, 32))
    lengths = rng.integers(20, 200, n).astype(float)
    windows, window_lengths = [], []
    for k in range(1, max_group + 1):
        count = max(n - k + 1, 0)
        vectors = np.array([base[i : i + k].sum(axis=0) for i in range(count)]).reshape(count, 32)
        if count:
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        windows.append(vectors.astype(np.float32))
        window_lengths.append(np.array([lengths[i : i + k].sum() + k - 1 for i in range(count)]))
    return SideEmbeddings(windows=windows, lengths=window_lengths)


@pytest.mark.parametrize("seed", range(6))
def test_small_tables_filled_in_python_align_as_the_vectorised_programme(monkeypatch, seed):
    import aligner.alignment as align_module

    rng = np.random.default_rng(seed)
    for _ in range(40):
        n, m = (int(x) for x in rng.integers(1, 30, 2))
        src = _random_side(rng, n)
        # half of the pairs related (the target shares the source's sentences), half not
        tgt = src if rng.random() < 0.5 else _random_side(rng, m)
        results = []
        for cells in (0, 10_000):
            monkeypatch.setattr(align_module, "_PYTHON_DP_CELLS", cells)
            results.append([(x.src, x.tgt, x.score) for x in align_embeddings(src, tgt)])
        assert results[0] == results[1]
        assert results[0] or tgt is not src


def _unit_rows(rng: np.random.Generator, n: int, dim: int = 32) -> np.ndarray:
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_link_contrast_tells_translations_from_topical_lookalikes():
    """Links that stand far above the pair's other sentence pairs give a high link_z and a
    low unlinked_z; links no better than any two sentences of the pair give link_z close
    to unlinked_z."""
    from aligner.alignment import Background, link_contrast, side_from_windows
    from aligner.types import Link

    rng = np.random.default_rng(0)
    topic = _unit_rows(rng, 1)[0]
    src = _unit_rows(rng, 5)
    translation = src + 0.1 * _unit_rows(rng, 5)
    lookalike = 0.6 * topic + 0.4 * _unit_rows(rng, 5)
    src_topical = 0.6 * topic + 0.4 * src

    def side(vectors):
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return side_from_windows([unit.astype(np.float32)], ["x"] * len(vectors))

    background = Background(0.0, 0.18)
    diagonal = [Link((i,), (i,), 0.9) for i in range(5)]
    true_z, true_rest = link_contrast(side(src), side(translation), diagonal, background)
    look_z, look_rest = link_contrast(side(src_topical), side(lookalike), diagonal, background)
    assert true_z - true_rest > 3.0
    assert look_z - look_rest < 1.0
    assert look_rest > true_rest  # the look-alike's sentences are all alike
    assert link_contrast(side(src), side(translation), [], background) == (0.0, 0.0)
