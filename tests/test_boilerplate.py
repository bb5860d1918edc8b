from aligner.prepare import prepare_document
from aligner.readers import read_documents


def seed(seeds_dir, stem):
    doc = next(d for d in read_documents([seeds_dir]) if d.id.startswith(stem))
    return prepare_document(doc)


def test_persian_tail_and_comment_section_are_removed(seeds_dir):
    doc = seed(seeds_dir, "001")
    texts = " ".join(doc.texts())
    for junk in ("انتهای پیام", "این مطلب برایم مفید است", "پسندیده اند", "موضوعات داغ", "نظرات"):
        assert junk not in texts
    assert len(doc.sentences) == 11
    assert doc.sentences[0].text.startswith("رئیس جمهور با قدردانی")


def test_captcha_sidebar_and_title_are_removed(seeds_dir):
    doc = seed(seeds_dir, "003")
    texts = " ".join(doc.texts())
    for junk in ("reCAPTCHA", "دیدگاهتان", "نشانی ایمیل", "جلسه سران قوا", "سنت خشتگذاری"):
        assert junk not in texts
    assert doc.sentences[0].text.startswith("به گزارش پایگاه")
    assert doc.doc.title is None  # the input gave none; the detected one is in `removed`
    assert doc.removed[0].startswith("دکتر پزشکیان در گفتوگو")


def test_arabic_end_mark_source_line_and_title_are_removed(seeds_dir):
    doc = seed(seeds_dir, "004")
    texts = " ".join(doc.texts())
    assert "انتهى" not in texts and "المصدر" not in texts
    assert not doc.sentences[0].text.startswith("في اتصاله هاتفيا")
    assert len(doc.sentences) == 8


def test_sentences_are_spans_of_the_original_text(seeds_dir):
    for stem in ("000", "001", "002", "003", "004"):
        doc = seed(seeds_dir, stem)
        for sentence in doc.sentences:
            assert doc.doc.text[sentence.start : sentence.end] == sentence.text


def test_a_dateline_on_a_line_of_its_own_is_furniture() -> None:
    from aligner.boilerplate import is_junk_line

    for line in ("به گزارش خبرگزاری ایرنا،", "سرویس بین الملل:", "وكالة الأنباء الرسمية -",
                 "متابعات:", "Reuters -"):  # fmt: skip
        assert is_junk_line(line), line
    # inline it opens the report's first sentence; a speaker's colon is the report's
    for line in ("به گزارش ایسنا، حسن روحانی در تماس تلفنی با پوتین گفت", "او گفت:",
                 "وقال:", "The president said:", "By the end of the year,"):  # fmt: skip
        assert not is_junk_line(line), line
