import itertools

from hypothesis import given
from hypothesis import strategies as st

from aligner.segment import split_sentences


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
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
