"""Page furniture of Persian and Arabic news sites, for the damaged benchmark documents.

Scraped reports come wrapped in lines that belong to the site, not to the report: an
end-of-report mark, a news code, the source agency, like buttons, the comment form and
readers' comments, "read also" links and sidebar headlines. None of it has a counterpart in
the other language's report, so none of it is ever in a gold link.

The Persian and Arabic headline and comment pools are deliberately *not* translations of each
other: two sites in two languages do not share their sidebars, and parallel junk would be an
unscored parallel pair. An agency lead-in ("به گزارش ایرنا، ...") is part of the report's first
sentence, not furniture, so it is prefixed to that sentence (and gold links include it).
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
    city, agency = rng.choice(AR_AGENCIES)
    return f"{city} ({agency}) - "


def header_lines(lang: str, rng: random.Random) -> list[str]:
    """A metadata line some sites print above the report."""
    if lang == "fa":
        return [rng.choice((f"کد خبر: {rng.randint(100000, 9999999)}", "زمان مطالعه: ۲ دقیقه"))]
    return [rng.choice((f"رقم الخبر: {rng.randint(10000, 999999)}", "تاريخ النشر: منذ ساعتين"))]


def inline_line(lang: str, rng: random.Random) -> str:
    """A "read also" link that sites drop between two paragraphs."""
    if lang == "fa":
        return f"بیشتر بخوانید: {rng.choice(FA_HEADLINES)}"
    return f"اقرأ أيضا: {rng.choice(AR_HEADLINES)}"


def footer_lines(lang: str, rng: random.Random) -> list[str]:
    """What follows the report: end mark, source, buttons, comments, sidebar (each optional,
    in the order sites print them)."""
    fa = lang == "fa"
    lines: list[str] = []
    if rng.random() < 0.7:
        lines.append(
            rng.choice(("انتهای پیام", "انتهای پیام/", "پایان خبر"))
            if fa
            else rng.choice(("/انتهى/", "/ انتهى/", "(انتهى)"))
        )
    if rng.random() < 0.5:
        if fa:
            lines.append(f"کد خبر: {rng.randint(100000, 9999999)}")
        else:
            agency = rng.choice(("تسنيم", "الأنباء الكويتية", "الأنباء العراقية", "إرنا"))
            lines.append(f"المصدر : وكالة {agency} للأنباء")
    if fa and rng.random() < 0.3:
        lines += ["این مطلب برایم مفید است", f"{rng.randint(2, 90)} نفر این پست را پسندیده اند"]
    if rng.random() < 0.4:
        lines += _sidebar(lang, rng)
    if rng.random() < 0.3:
        lines += _comments(lang, rng)
    return lines


def _sidebar(lang: str, rng: random.Random) -> list[str]:
    if lang == "fa":
        header, pool = rng.choice(("اخبار مرتبط", "پربازدیدترین")), FA_HEADLINES
    else:
        header, pool = rng.choice(("اقرأ أيضا", "الأكثر قراءة")), AR_HEADLINES
    # a header is not always printed: bare headlines at the end are the harder case
    head = [header] if rng.random() < 0.7 else []
    return head + rng.sample(pool, rng.randint(2, 4))


def _comments(lang: str, rng: random.Random) -> list[str]:
    if lang == "fa":
        head = [rng.choice(("نظرات", "دیدگاهتان را بنویسید"))]
        return head + rng.sample(FA_COMMENTS, rng.randint(1, 3))
    return ["التعليقات", *rng.sample(AR_COMMENTS, rng.randint(1, 3))]
