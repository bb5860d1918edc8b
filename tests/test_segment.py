from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from aligner.prepare import prepare_document
from aligner.segment import split_sentences
from aligner.types import Document


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def test_persian_and_arabic_sentence_ends():
    text = "وی گفت: سلام. آیا آمدی؟ بله! هل جئت؟ نعم."
    assert sentences(text) == ["وی گفت: سلام.", "آیا آمدی؟", "بله!", "هل جئت؟", "نعم."]


def test_line_breaks_end_sentences():
    assert sentences("first line without stop\nsecond line") == [
        "first line without stop",
        "second line",
    ]


def test_numbers_and_abbreviations_are_not_sentence_ends():
    text = "Dr. Smith of the U.S. paid 4.5 dollars to the 1+5 group. Then he left."
    assert sentences(text) == [
        "Dr. Smith of the U.S. paid 4.5 dollars to the 1+5 group.",
        "Then he left.",
    ]
    assert sentences("توافق هسته ای میان ایران و کشورهای 1+5 مهم است. ۴.۵ درصد رشد.") == [
        "توافق هسته ای میان ایران و کشورهای 1+5 مهم است.",
        "۴.۵ درصد رشد.",
    ]


def test_guillemet_quotes_stay_with_their_sentence():
    text = "وی افزود: «اکنون موش داریم. آنها سالم هستند.» سپس رفت."
    assert sentences(text) == ["وی افزود: «اکنون موش داریم. آنها سالم هستند.»", "سپس رفت."]


def test_closing_quote_after_full_stop_belongs_to_the_sentence():
    assert sentences('He said "yes." She left.') == ['He said "yes."', "She left."]


def test_cjk_sentence_marks():
    assert sentences("你好。我很好！") == ["你好。", "我很好！"]


def test_a_megabyte_line_without_punctuation_is_cut():
    text = " ".join(["کلمه"] * 250_000)
    pieces = split_sentences(text, max_chars=2000)
    assert len(pieces) > 100
    assert all(e - s <= 2000 for s, e in pieces)


@given(st.text(alphabet=st.sampled_from(list('ab .!?؟\n«»"سلام'))))
def test_segmentation_loses_no_characters(text):
    spans = split_sentences(text)
    covered = "".join(text[s:e] for s, e in spans)
    assert covered.replace(" ", "") == "".join(text.split())
    assert all(s < e for s, e in spans)
    assert all(a[1] <= b[0] for a, b in pairwise(spans))


def check_spans_cover(text: str, spans: list[tuple[int, int]]) -> None:
    """Spans are in order, non-empty, and together hold every non-space character."""
    assert all(0 <= s < e <= len(text) for s, e in spans)
    assert all(a[1] <= b[0] for a, b in pairwise(spans))
    covered = "".join(text[s:e] for s, e in spans)
    assert "".join(covered.split()) == "".join(text.split())


@settings(max_examples=300)
@given(st.text())
def test_segmentation_of_any_text_loses_no_characters(text):
    check_spans_cover(text, split_sentences(text))


@settings(max_examples=100)
@given(st.text(alphabet=st.sampled_from(list('ab .?\n«»"')), min_size=50), st.integers(4, 40))
def test_cutting_long_sentences_loses_no_characters(text, max_chars):
    spans = split_sentences(text, max_chars=max_chars)
    check_spans_cover(text, spans)
    assert all(e - s <= max_chars for s, e in spans)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_prepared_sentences_are_spans_of_the_original_text(text):
    doc = prepare_document(Document("d", text))
    assert [s.index for s in doc.sentences] == list(range(len(doc.sentences)))
    assert all(doc.doc.text[s.start : s.end] == s.text and s.norm for s in doc.sentences)
    assert all(a.end <= b.start for a, b in pairwise(doc.sentences))
