"""Page furniture of Persian, Arabic and English news sites, for the damaged benchmark
documents.

Scraped reports come wrapped in lines that belong to the site, not to the report: an
end-of-report mark, a news code, the source agency, like buttons, the comment form and
readers' comments, "read also" links and sidebar headlines. None of it has a counterpart in
the other language's report, so none of it is ever in a gold link.

The headline and comment pools of the three languages are deliberately *not* translations of
each other: two sites in two languages do not share their sidebars, and parallel junk would be
an unscored parallel pair. An agency lead-in ("به گزارش ایرنا، ...", "LONDON (Reuters) - ") is
part of the report's first sentence, not furniture, so it is prefixed to that sentence (and
gold links include it).

Each function draws from the generator in the same order for Persian and Arabic as before
English was added, so that the fa-ar sets of a seed did not change.
"""

from __future__ import annotations

import random

FA_HEADLINES = (
    "قیمت طلا و سکه امروز در بازار تهران",
    "نتایج هفته بیستم لیگ برتر فوتبال",
    "پیش‌بینی هوای تهران برای آخر هفته",
    "افتتاح سه طرح عمرانی در استان فارس",
    "زمان برگزاری کنکور سراسری اعلام شد",
    "واکنش بازار بورس به مصوبه جدید دولت",
    "آغاز ثبت‌نام حج تمتع از هفته آینده",
    "برنامه پخش مسابقات والیبال نوجوانان",
    "کاهش ساعت کاری ادارات در تابستان",
    "رونمایی از خودروی جدید داخلی در نمایشگاه",
)
AR_HEADLINES = (
    "أسعار العملات الأجنبية في السوق المحلية اليوم",
    "الأرصاد الجوية تتوقع أمطارا غزيرة على المناطق الشمالية",
    "منتخب الشباب يتأهل إلى نصف النهائي",
    "افتتاح معرض الكتاب الدولي بمشاركة واسعة",
    "ارتفاع أسعار النفط في الأسواق العالمية",
    "وزارة التربية تعلن موعد الامتحانات النهائية",
    "انطلاق مهرجان المسرح العربي في دورته الجديدة",
    "البنك المركزي يبقي على سعر الفائدة دون تغيير",
    "افتتاح جسر جديد يربط ضفتي النهر",
    "حملة وطنية لتشجير المدن الكبرى",
)
FA_COMMENTS = (
    "خیلی ممنون از گزارش خوبتون",
    "چرا رسانه‌های دیگر به این موضوع نپرداختند؟",
    "امیدوارم مسئولان پیگیری کنند",
    "عالی بود",
    "این خبر را دیروز هم منتشر کرده بودید",
    "لطفا منبع آمارها را هم ذکر کنید",
)
AR_COMMENTS = (
    "شكرا على هذا التقرير المفيد",
    "الله يحفظكم",
    "متى سيتم تطبيق هذا القرار؟",
    "خبر مهم جدا",
    "نرجو المتابعة ونشر التفاصيل",
)
FA_AGENCIES = ("ایرنا", "ایسنا", "خبرگزاری فارس", "خبرگزاری مهر", "خبرگزاری تسنیم")
EN_HEADLINES = (
    "City council approves new parking rules for the old town",
    "Local bakery wins national bread award",
    "Weekend closures planned on the ring road",
    "School holiday dates confirmed for next year",
    "Museum reopens after two-year renovation",
    "Heatwave warning issued for southern counties",
    "Airline adds direct flights to three new cities",
    "Farmers market returns to the town square",
    "Rail strike talks to resume on Monday",
    "Record crowd at the marathon despite the rain",
)
EN_COMMENTS = (
    "Finally someone asks the right questions",
    "My neighbour was there and says it was much worse",
    "There is a typo in the third paragraph",
    "Interesting read",
    "Who is going to pay for all this?",
)
EN_AGENCIES = (
    ("LONDON", "Reuters"),
    ("PARIS", "AFP"),
    ("WASHINGTON", "AP"),
    ("GENEVA", "Xinhua"),
    ("BRUSSELS", "dpa"),
)
AR_AGENCIES = (
    ("طهران", "إرنا"),
    ("دمشق", "سانا"),
    ("الرياض", "واس"),
    ("الدوحة", "قنا"),
    ("أبوظبي", "وام"),
)


def lead_in(lang: str, rng: random.Random) -> str:
    """The agency opening of a report's first sentence (it belongs to the sentence)."""
    if lang == "fa":
        return f"به گزارش {rng.choice(FA_AGENCIES)}، "
    city, agency = rng.choice(EN_AGENCIES if lang == "en" else AR_AGENCIES)
    return f"{city} ({agency}) - "


def header_lines(lang: str, rng: random.Random) -> list[str]:
    """A metadata line some sites print above the report."""
    if lang == "fa":
        return [rng.choice((f"کد خبر: {rng.randint(100000, 9999999)}", "زمان مطالعه: ۲ دقیقه"))]
    if lang == "en":
        return [rng.choice((f"Story ID: {rng.randint(10000, 999999)}", "Updated 3 hours ago"))]
    return [rng.choice((f"رقم الخبر: {rng.randint(10000, 999999)}", "تاريخ النشر: منذ ساعتين"))]


def inline_line(lang: str, rng: random.Random) -> str:
    """A "read also" link that sites drop between two paragraphs."""
    if lang == "fa":
        return f"بیشتر بخوانید: {rng.choice(FA_HEADLINES)}"
    if lang == "en":
        return f"Read more: {rng.choice(EN_HEADLINES)}"
    return f"اقرأ أيضا: {rng.choice(AR_HEADLINES)}"


def footer_lines(lang: str, rng: random.Random) -> list[str]:
    """What follows the report: end mark, source, buttons, comments, sidebar (each optional,
    in the order sites print them)."""
    fa, en = lang == "fa", lang == "en"
    lines: list[str] = []
    if rng.random() < 0.7:
        if fa:
            lines.append(rng.choice(("انتهای پیام", "انتهای پیام/", "پایان خبر")))
        elif en:
            lines.append(rng.choice(("(END)", "-ENDS-", "End of story")))
        else:
            lines.append(rng.choice(("/انتهى/", "/ انتهى/", "(انتهى)")))
    if rng.random() < 0.5:
        if fa:
            lines.append(f"کد خبر: {rng.randint(100000, 9999999)}")
        elif en:
            lines.append(f"Source: {rng.choice(('Reuters', 'AFP', 'Xinhua', 'BBC Monitoring'))}")
        else:
            agency = rng.choice(("تسنيم", "الأنباء الكويتية", "الأنباء العراقية", "إرنا"))
            lines.append(f"المصدر : وكالة {agency} للأنباء")
    if fa and rng.random() < 0.3:
        lines += ["این مطلب برایم مفید است", f"{rng.randint(2, 90)} نفر این پست را پسندیده اند"]
    elif en and rng.random() < 0.3:
        lines += ["Was this article helpful?", f"{rng.randint(2, 90)} people liked this"]
    if rng.random() < 0.4:
        lines += _sidebar(lang, rng)
    if rng.random() < 0.3:
        lines += _comments(lang, rng)
    return lines


def _sidebar(lang: str, rng: random.Random) -> list[str]:
    if lang == "fa":
        header, pool = rng.choice(("اخبار مرتبط", "پربازدیدترین")), FA_HEADLINES
    elif lang == "en":
        header, pool = rng.choice(("Related news", "Most read")), EN_HEADLINES
    else:
        header, pool = rng.choice(("اقرأ أيضا", "الأكثر قراءة")), AR_HEADLINES
    # a header is not always printed: bare headlines at the end are the harder case
    head = [header] if rng.random() < 0.7 else []
    return head + rng.sample(pool, rng.randint(2, 4))


def _comments(lang: str, rng: random.Random) -> list[str]:
    if lang == "fa":
        head = [rng.choice(("نظرات", "دیدگاهتان را بنویسید"))]
        return head + rng.sample(FA_COMMENTS, rng.randint(1, 3))
    if lang == "en":
        head = [rng.choice(("Comments", "Leave a comment"))]
        return head + rng.sample(EN_COMMENTS, rng.randint(1, 3))
    return ["التعليقات", *rng.sample(AR_COMMENTS, rng.randint(1, 3))]
