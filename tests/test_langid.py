import pytest

from aligner.langid import detect_language
from aligner.prepare import prepare_document
from aligner.readers import read_documents


@pytest.mark.parametrize(
    ("stem", "lang"),
    [("000", "fa"), ("001", "fa"), ("002", "ar"), ("003", "fa"), ("004", "ar")],
)
def test_seed_languages(seeds_dir, stem, lang):
    doc = next(d for d in read_documents([seeds_dir]) if d.id.startswith(stem))
    assert detect_language(doc.text) == lang


@pytest.mark.parametrize("stem", ["000", "001", "002", "003", "004"])
def test_given_normalised_text_gives_the_same_language(seeds_dir, stem):
    # document preparation passes the normalised sentences it already has, joined
    doc = next(d for d in read_documents([seeds_dir]) if d.id.startswith(stem))
    prepared = prepare_document(doc)
    joined = " ".join(s.norm for s in prepared.sentences)
    assert detect_language(doc.text, joined) == detect_language(doc.text)
    assert prepared.lang == detect_language(doc.text)


def test_arabic_typed_with_persian_letters_is_arabic():
    # the first line of seed 002: Arabic words, Persian ی and ک
    assert detect_language("روحانی: التعاون بین طهران وموسکو فی مواجهة الإرهاب مستمر") == "ar"


def test_persian_typed_with_arabic_letters_is_persian():
    assert detect_language("رييس جمهور در اين ديدار گفت که همكاري ها ادامه دارد") == "fa"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("The president said that the talks were useful for both sides.", "en"),
        ("Le président a dit que les discussions sont utiles pour les deux pays.", "fr"),
        ("Президент заявил, что переговоры были полезными.", "ru"),
        ("总统说会谈对双方都有益。", "zh"),
        ("הנשיא אמר שהשיחות היו מועילות", "he"),
        ("یہ ایک اردو جملہ ہے جس میں کچھ الفاظ ہیں اور یہ ٹھیک ہے", "ur"),
        ("", "und"),
        ("12345 !!! ...", "und"),
    ],
)
def test_other_languages(text, lang):
    assert detect_language(text) == lang
