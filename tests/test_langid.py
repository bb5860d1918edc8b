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


# -- a language the input gives, against the text --------------------------------------------

SEED_AR = "004_e5f69c90d0bd1dfa"
SEED_FA = "001_2ad9410abe4922a4"


def _given(seeds_dir, stem, lang, doc_id=None):
    from aligner.types import Document

    text = (seeds_dir / f"{stem}.txt").read_text(encoding="utf-8")
    return Document(doc_id or stem, text, lang=lang)


def test_confidence_is_high_on_reports_and_nil_on_a_few_words(seeds_dir):
    from aligner.langid import detect_language_confidence

    for stem, lang in ((SEED_FA, "fa"), (SEED_AR, "ar")):
        text = (seeds_dir / f"{stem}.txt").read_text(encoding="utf-8")
        detected, confidence = detect_language_confidence(text)
        assert detected == lang and confidence > 0.9
    assert detect_language_confidence("روسیه و ایران در این زمینه")[1] < 0.5
    assert detect_language_confidence("") == ("und", 0.0)


def test_a_given_language_the_text_contradicts_is_warned_once_and_kept(seeds_dir):
    from aligner.prepare import prepare_documents

    warnings = []
    docs = [
        _given(seeds_dir, SEED_AR, "fa"),
        _given(seeds_dir, SEED_AR, "fa-IR", "copy-2"),
        _given(seeds_dir, SEED_FA, "ar"),
        _given(seeds_dir, SEED_FA, "fa", "right"),
        _given(seeds_dir, SEED_AR, "en", "latin"),
    ]
    prepared = prepare_documents(docs, warn=warnings.append)
    assert [d.lang for d in prepared] == ["fa", "fa-IR", "ar", "fa", "en"]  # kept as given
    assert len(warnings) == 1
    assert warnings[0].startswith("4 documents' given language disagrees with the text")
    assert f"{SEED_AR} (given fa, reads as ar)" in warnings[0]
    assert "right" not in warnings[0]


def test_no_warning_when_unsure_or_unjudged(seeds_dir):
    from aligner.prepare import prepare_documents
    from aligner.types import Document

    warnings = []
    english = (
        "The president said on Tuesday that the talks with the Russian side were held in a "
        "friendly atmosphere, and that both sides agreed to go on with their cooperation. "
    ) * 4
    docs = [
        Document("short", "التعاون لمحاربة الارهاب واجبنا جميعا.", lang="fa"),  # too short
        Document("fr", english, lang="fr"),  # Latin-script languages are not judged
        Document("ur", (seeds_dir / f"{SEED_FA}.txt").read_text(encoding="utf-8"), lang="ur"),
        Document("xx", english, lang="sv"),  # a language the detector does not know
        Document("pes", (seeds_dir / f"{SEED_FA}.txt").read_text(encoding="utf-8"), lang="pes"),
        Document("dialect", (seeds_dir / f"{SEED_AR}.txt").read_text(encoding="utf-8"), "arz"),
    ]
    prepare_documents(docs, warn=warnings.append)
    assert warnings == []


def test_the_script_of_a_language() -> None:
    from aligner.langid import language_script

    assert language_script("fa") == "Arabic" and language_script("en") == "Latin"
    # a language detect_language does not name: the script of its texts
    assert language_script("xx", ["Здравствуй, мир", "2020"]) == "Cyrillic"
    assert language_script("xx", ["2020 - 19"]) is None
