from hypothesis import given, settings
from hypothesis import strategies as st

from aligner.normalize import clean_for_export, normalize, normalize_many


def test_arabic_and_persian_letter_forms_fold_together():
    # ي/ی, ك/ک, ى, ة/ه, alef and hamza forms
    assert normalize("كيف") == normalize("کیف")
    assert normalize("مصطفى") == normalize("مصطفی")
    assert normalize("مدرسة") == normalize("مدرسه")
    assert normalize("أحمد إيران آمد ٱلله") == normalize("احمد ایران امد الله")
    assert normalize("مؤتمر") == normalize("موتمر")


def test_diacritics_tatweel_and_zwnj_are_removed():
    assert normalize("مُحَمَّدٌ") == "محمد"
    assert normalize("ســـلام") == "سلام"
    assert normalize("می\u200cشود") == "میشود"


def test_persian_and_arabic_indic_digits_become_ascii():
    assert normalize("۱۴۰۲ و ٢٠٢٣") == "1402 و 2023"
    assert normalize("۴٫۵") == "4.5"


def test_presentation_forms_bidi_controls_and_spaces():
    assert normalize("\ufeb3\ufefc\ufee1") == normalize("سلام")  # isolated/ligature forms
    assert normalize("a\u200f b\u202e  c\n\td") == "a b c d"


def test_latin_is_case_folded():
    assert normalize("COVID-19 Vaccine") == "covid-19 vaccine"


def test_clean_for_export_removes_line_breaking_characters():
    text = "a\tb\nc\r\nd\x00e\u2028f"
    assert clean_for_export(text) == "a b c de f"


@given(st.text())
def test_normalize_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once


# Arabic-script blocks, presentation forms, combining marks, digits and controls: where
# folding, NFKC and casefold interact.
ARABIC_HEAVY = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x0600, max_codepoint=0x06FF),
        st.characters(min_codepoint=0xFB50, max_codepoint=0xFEFF),
        st.characters(min_codepoint=0x0300, max_codepoint=0x036F),
        st.sampled_from(list("\u200c\u200f\u202e\u00a0\t\n\x00 «»İßﬁ")),
    )
)


@settings(max_examples=500)
@given(ARABIC_HEAVY)
def test_normalize_is_idempotent_on_arabic_script(text):
    once = normalize(text)
    assert normalize(once) == once


@given(st.text())
def test_clean_for_export_never_leaves_tabs_or_newlines(text):
    cleaned = clean_for_export(text)
    assert "\t" not in cleaned and "\n" not in cleaned and "\r" not in cleaned


@settings(max_examples=300)
@given(st.lists(st.one_of(ARABIC_HEAVY, st.text()), max_size=6))
def test_normalize_many_equals_normalize_of_each(texts):
    assert normalize_many(texts) == [normalize(t) for t in texts]
