"""Site boilerplate removal for news pages (Persian, Arabic, English).

A scraped report carries more than the report: a headline, the agency's end mark
("انتهای پیام", "/انتهى/"), a "source:" line, and after the end mark the page furniture:
like buttons, the comment form, captcha notices and sidebar headlines. None of that has a
counterpart in the other language's report, and all of it misleads matching. We work line by
line on the original text and keep character offsets, so that what is exported is the
author's own text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aligner.normalize import normalize

# An agency's end-of-report mark: everything after it is page furniture.
_END_MARK = re.compile(
    r"^[\s/\-.*]*(انتهای (پیام|خبر)|پایان (پیام|خبر)|انتهی|انتها|end of (story|report))[\s/\-.*]*$"
)
# Headers that open the comment section or a sidebar: also nothing after them is the report.
_SECTION_START = re.compile(
    r"^(نظرات|نظرات و دیدگاه ها|نظر شما|دیدگاه ها|دیدگاهتان را بنویسید|ارسال نظر|"
    r"موضوعات داغ|اخبار مرتبط|مطالب مرتبط|پربازدیدترین|پربحث ترین|آخرین اخبار|"
    r"التعلیقات|اضف تعلیق|اکتب تعلیقک|اقرا ایضا|اقرا المزید|اخبار ذات صله|الاکثر قراءه|"
    r"comments?|leave a (reply|comment)|related (news|articles|stories)|read more|most read)"
    r"\s*:?$"
)
# Lines that are never part of a report, wherever they stand.
_JUNK_LINE = re.compile(
    r"^(المصدر|مصدر|منبع|source|کد خبر|رقم الخبر|تاریخ انتشار|تاریخ النشر|برچسب ها|"
    r"کلمات کلیدی|الکلمات الدالة|tags?)\s*[:：]"
    r"|recaptcha|captcha|"
    r"این مطلب برایم مفید است|نفر این پست را پسندیده اند|مسئولیت نوشته ها|"
    r"نشانی ایمیل شما منتشر نخواهد شد|علامتگذاری شده اند|"
    r"^(اشتراک گذاری|چاپ|ارسال به دوستان|share|print|شارک|طباعه)\s*:?$"
)
# Only short lines: a sentence of the report may well mention copyright.
_SHORT_JUNK_LINE = re.compile(r"تمامی حقوق|کلیه حقوق|جمیع الحقوق|all rights reserved|copyright|©")
# A dateline or desk label on a line of its own ("به گزارش خبرگزاری ایرنا،", "سرویس بین
# الملل:", "وكالة الأنباء الرسمية -", "متابعات:"): the attribution of the report, with no
# counterpart in another agency's version of it; inline ("به گزارش ایسنا، روحانی ...") it
# stays, as part of the first sentence. (Normalised text: the Persian comma is ",".)
_DATELINE_LINE = re.compile(
    r"^(به گزارش|به نقل از|سرویس|گروه|خبرگزاری|وکاله|متابعات|خاص|بحسب|نقلا عن|"
    r"exclusive|special report|reuters|afp)\b[^.!?؟]{0,80}[,:\-–—]\s*$"
)
_SENTENCE_END = re.compile(r"[.!?؟…。！？][\"'»”’)\]]*\s*$")


@dataclass(frozen=True)
class CleanedText:
    """What is left of a document once boilerplate is gone: line spans into the original."""

    spans: tuple[tuple[int, int], ...]
    title: str | None
    removed: tuple[str, ...]


def _line_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in re.finditer(r"[^\n\r\u2028\u2029]+", text):
        start, end = match.span()
        # trim surrounding white space so that spans hold the line's text only
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            spans.append((start, end))
    return spans


def looks_like_title(line: str) -> bool:
    """A headline: short, and not ended like a sentence."""
    words = line.split()
    return 0 < len(words) <= 30 and not _SENTENCE_END.search(line)


def is_junk_line(line: str, norm: str | None = None) -> bool:
    """A line that is never part of a report; `norm` is `normalize(line)` when the caller
    already has it (each line is normalised once: it is most of the cost here)."""
    norm = normalize(line) if norm is None else norm
    if _JUNK_LINE.search(norm) or not any(ch.isalnum() for ch in norm):
        return True
    words = len(norm.split())
    if words <= 8 and _DATELINE_LINE.match(norm):
        return True
    return words <= 15 and bool(_SHORT_JUNK_LINE.search(norm))


def remove_boilerplate(text: str, detect_title: bool = True) -> CleanedText:
    spans = _line_spans(text)
    removed: list[str] = []
    kept: list[tuple[int, int]] = []
    title: str | None = None

    for position, (start, end) in enumerate(spans):
        line = text[start:end]
        norm = normalize(line)
        # An end mark or comment header only ends the report once some report came before
        # it; "Comments" as the first line of a text is not page furniture.
        if kept and (_END_MARK.match(norm) or _SECTION_START.match(norm)):
            removed.extend(text[s:e] for s, e in spans[position:])
            break
        if _END_MARK.match(norm) or is_junk_line(line, norm):
            removed.append(line)
            continue
        if detect_title and position == 0 and len(spans) > 1 and looks_like_title(line):
            title = line
            removed.append(line)
            continue
        kept.append((start, end))

    # Sidebar headlines left at the very end: short lines that are not sentences.
    while len(kept) > 1:
        start, end = kept[-1]
        line = text[start:end]
        if len(line.split()) <= 10 and not _SENTENCE_END.search(line):
            removed.append(line)
            kept.pop()
        else:
            break
    return CleanedText(spans=tuple(kept), title=title, removed=tuple(removed))
