#!/usr/bin/env python3
"""Generate the synthetic sample data under ``data/samples/``.

Run from the repository root::

    python scripts/make_samples.py

Every file is rewritten byte-identically on each run: the only randomness is a
``random.Random`` with a fixed seed, drawn in a fixed order, and nothing depends on
the clock, the locale or the file system.  Needs the standard library and PyYAML
(PyYAML only to re-read the files as a self-check).

All people, ID numbers, phone numbers and addresses are invented.  Mainland ID
numbers carry a correct GB 11643 check character and a real birth date; Hong Kong
ID numbers carry a correct HKID check digit, Taiwan ones a correct check digit.  UK and
US phone numbers are from the ranges reserved for drama (07700 900xxx, 555-01xx).

The records in every locale (zh_TW, zh_HK, en_US, en_GB) and for the regional brands
(lungmun in Hong Kong, risheng in Taiwan) come after all the original ones, drawn from a
second generator, so that the original records, their lines and the bad files stay
byte-identical.

The samples are keyed to the as-of date 2026-11-20 (``--as-of 2026-11-20``):
each due date is computed from it so the days past due come out exactly as intended.
"""

# ruff: noqa: RUF001  (full-width Chinese punctuation and dashes in the data are intended)
from __future__ import annotations

import csv
import io
import json
import random
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import yaml

AS_OF = date(2026, 11, 20)
SEED = 20261120
CAP_ANNUAL = Decimal("0.24")  # default policy cap, only used to label rows in the README
#: The policy's cap per brand (config/policy.yaml), only used to label rows in the README.
BRAND_CAP = {"jinqiao": Decimal("0.20"), "lungmun": Decimal("0.36"), "risheng": Decimal("0.16")}
#: The brands' default locale and currency (config/brands.yaml), for the README.
BRAND_LOCALE = {"mingtai": "zh_CN", "jinqiao": "zh_CN", "lungmun": "zh_HK", "risheng": "zh_TW"}
MIN_NOTICE_INTERVAL = 7  # days; as_of - last_notice_date < 7 => suppressed
CENT = Decimal("0.01")

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "samples"
BAD = OUT / "bad"

COLUMNS = [
    "account_id", "contract_no", "brand", "name", "id_number", "id_type", "phone",
    "address", "postal_code", "locale", "currency", "loan_date", "loan_amount", "due_date",
    "overdue_principal", "overdue_interest", "fees", "penalty_rate_daily", "compound",
    "paid_since_due", "disputed", "bankrupt", "deceased", "cease_contact", "last_notice_date",
]  # fmt: skip
BOOL_FIELDS = ("compound", "disputed", "bankrupt", "deceased", "cease_contact")
FLAGS = ("disputed", "bankrupt", "deceased", "cease_contact")

BRAND_PREFIX = {"mingtai": "MT", "jinqiao": "JQ", "lungmun": "LM", "risheng": "RS"}

# ---------------------------------------------------------------------------
# identity numbers
# ---------------------------------------------------------------------------

GB11643_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
GB11643_CHECK = "10X98765432"


def cn_check(body17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(body17, GB11643_WEIGHTS, strict=True))
    return GB11643_CHECK[total % 11]


def cn_id(region: str, birth: date, seq: int) -> str:
    body = f"{region}{birth:%Y%m%d}{seq:03d}"
    return body + cn_check(body)


def hk_check(letter: str, digits: str) -> str:
    """HKID check digit for a single-letter prefix (a leading space counts 36)."""
    total = 36 * 9 + (ord(letter) - ord("A") + 10) * 8
    total += sum(int(d) * w for d, w in zip(digits, (7, 6, 5, 4, 3, 2), strict=True))
    rem = total % 11
    check = 0 if rem == 0 else 11 - rem
    return "A" if check == 10 else str(check)


# ---------------------------------------------------------------------------
# invented people and places
# ---------------------------------------------------------------------------

# (address line 1, ID region code, postal-code prefix) -- real administrative
# areas; the street, the estate, the building and the room below are invented.
PLACES = [
    ("北京市朝阳区", "110105", "1000"),
    ("北京市海淀区", "110108", "1000"),
    ("上海市浦东新区", "310115", "2001"),
    ("上海市徐汇区", "310104", "2000"),
    ("天津市河西区", "120103", "3002"),
    ("重庆市渝中区", "500103", "4000"),
    ("广东省广州市天河区", "440106", "5106"),
    ("广东省深圳市南山区", "440305", "5180"),
    ("浙江省杭州市西湖区", "330106", "3100"),
    ("江苏省南京市鼓楼区", "320106", "2100"),
    ("江苏省苏州市姑苏区", "320508", "2150"),
    ("四川省成都市武侯区", "510107", "6100"),
    ("湖北省武汉市洪山区", "420111", "4300"),
    ("湖南省长沙市岳麓区", "430104", "4100"),
    ("陕西省西安市雁塔区", "610113", "7100"),
    ("河南省郑州市金水区", "410105", "4500"),
    ("山东省济南市历下区", "370102", "2500"),
    ("山东省青岛市市南区", "370202", "2660"),
    ("安徽省合肥市蜀山区", "340104", "2300"),
    ("福建省厦门市思明区", "350203", "3610"),
    ("福建省福州市鼓楼区", "350102", "3500"),
    ("云南省昆明市五华区", "530102", "6500"),
    ("辽宁省沈阳市和平区", "210102", "1100"),
    ("黑龙江省哈尔滨市南岗区", "230103", "1500"),
    ("广西壮族自治区南宁市青秀区", "450103", "5300"),
    ("江西省南昌市东湖区", "360102", "3300"),
]
STREETS = [
    "建设路", "人民路", "解放大道", "中山路", "文化路", "和平路", "光明路", "青年路",
    "学府路", "滨河路", "朝阳路", "长青街", "新华街", "幸福大街", "东风路", "迎宾大道",
    "工业北路", "民主路", "锦江街", "兴业路",
]  # fmt: skip
ESTATES = [
    "锦绣花园", "阳光新城", "翠湖苑", "金色家园", "滨江公寓", "书香名邸", "碧水湾小区",
    "绿洲华庭", "丽景湾", "和谐家园", "君悦府", "紫荆苑", "望江花园", "御景豪庭",
    "东方明珠苑", "春晓小区",
]  # fmt: skip
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚华建国文辉玲红鹏飞宇浩俊帆欣怡婷雪梅琳晨"
    "阳晓东海波志成慧颖佳思雨嘉子涵博睿哲瑞凯林峰斌亮彬晶倩璐蕾萍燕莉宁毅鑫昊轩然诗梦琪"
)
PHONE_PREFIXES = [
    "130", "133", "135", "136", "138", "139", "150", "152", "155", "158", "166", "173",
    "177", "180", "182", "186", "189", "191", "195", "198", "199",
]  # fmt: skip


# Outside the mainland: real districts and roads, invented numbers, buildings and people.
#: (district, district in English, a street in it, the street in English)
HK_PLACES = [
    ("香港九龍旺角", "Mong Kok, Kowloon", "彌敦道", "Nathan Road"),
    ("香港九龍觀塘", "Kwun Tong, Kowloon", "觀塘道", "Kwun Tong Road"),
    ("香港新界沙田", "Sha Tin, New Territories", "沙田正街", "Sha Tin Centre Street"),
    ("香港北角", "North Point, Hong Kong", "英皇道", "King's Road"),
    ("香港新界荃灣", "Tsuen Wan, New Territories", "青山公路", "Castle Peak Road"),
    ("香港九龍深水埗", "Sham Shui Po, Kowloon", "長沙灣道", "Cheung Sha Wan Road"),
]
HK_BUILDINGS = [
    ("康盛大廈", "Hong Shing Building"), ("海濱花園 3 座", "Block 3, Seaview Gardens"),
    ("怡景閣", "Yi King Court"), ("寶華大廈", "Po Wah Mansion"), ("翠雅苑", "Chui Nga Court"),
]
HK_SURNAMES = "陳黃李張梁何吳林劉鄭"
HK_GIVEN = [
    "家豪", "詠詩", "靜怡", "志偉", "嘉敏", "卓賢", "嘉琪", "俊傑", "凱琳", "浩然", "穎欣", "子晴",
]
HK_NAMES_EN = [
    "CHAN Ka Ho", "WONG Wing Sze", "LEE Ka Yan", "CHEUNG Chi Wai", "LEUNG Ka Man",
    "HO Cheuk Yin", "NG Tsz Ching",
]
TW_PLACES = [
    ("臺北市大安區", "Da'an Dist., Taipei City", "106"),
    ("臺北市信義區", "Xinyi Dist., Taipei City", "110"),
    ("新北市板橋區", "Banqiao Dist., New Taipei City", "220"),
    ("臺中市西屯區", "Xitun Dist., Taichung City", "407"),
    ("高雄市苓雅區", "Lingya Dist., Kaohsiung City", "802"),
    ("臺南市東區", "East Dist., Tainan City", "701"),
]
TW_ROADS = [  # names found in most Taiwanese cities
    ("中山路", "Zhongshan Rd."), ("中正路", "Zhongzheng Rd."), ("民生路", "Minsheng Rd."),
    ("民權路", "Minquan Rd."), ("和平路", "Heping Rd."), ("光復路", "Guangfu Rd."),
]
TW_SURNAMES = "林陳黃張李王吳劉蔡楊"
TW_GIVEN = ["怡君", "冠宇", "淑芬", "家豪", "志明", "佳蓉", "雅婷", "宗翰", "俊宏", "詩涵", "喆"]
TW_NAMES_EN = ["LIN Yi-Chun", "CHEN Kuan-Yu", "HUANG Shu-Fen", "WANG Chih-Ming", "TSAI Ya-Ting"]
UK_PLACES = [
    ("Albert Road", "Manchester", "M14 5GH"), ("Victoria Street", "Bristol", "BS1 6AA"),
    ("Station Road", "Leeds", "LS6 2QH"), ("Church Lane", "London", "N8 7RT"),
]
UK_NAMES = ["Oliver Bennett", "Eleanor Whitfield", "Harriet O'Connell", "James Pemberton"]
US_PLACES = [
    ("Maple Avenue", "Springfield, IL", "62704"), ("Oak Street", "Portland, OR", "97205"),
    ("Elm Drive", "Austin, TX", "78704"), ("Cedar Lane", "Columbus, OH", "43215"),
]
US_NAMES = ["Emily Carter", "Michael Rodriguez", "Sarah Thompson", "Daniel Whitaker"]
TW_CODES: dict[str, int] = {
    "A": 10, "B": 11, "C": 12, "D": 13, "E": 14, "F": 15, "G": 16, "H": 17, "I": 34,
    "J": 18, "K": 19, "L": 20, "M": 21, "N": 22, "O": 35, "P": 23, "Q": 24, "R": 25,
    "S": 26, "T": 27, "U": 28, "V": 29, "W": 32, "X": 30, "Y": 31, "Z": 33,
}  # fmt: skip
TW_WEIGHTS = (1, 9, 8, 7, 6, 5, 4, 3, 2, 1)
#: Overdue principal ranges per currency (the default is for CNY).
PRINCIPAL_RANGES = {
    "HKD": ((500, 3000), (3000, 15000), (15000, 80000)),
    "TWD": ((3000, 20000), (20000, 80000), (80000, 300000)),
    "USD": ((100, 800), (800, 3000), (3000, 9000)),
    "GBP": ((100, 600), (600, 2500), (2500, 8000)),
}


class Pool:
    """Deterministic source of invented names, IDs, phones and addresses."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.used_names: set[str] = set()
        self.used_ids: set[str] = set()
        self.used_phones: set[str] = set()

    def name(self) -> str:
        while True:
            n = self.rng.choice(SURNAMES) + "".join(
                self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2, 2, 2)))
            )
            if n not in self.used_names:
                self.used_names.add(n)
                return n

    def place(self) -> tuple[str, str, str]:
        return self.rng.choice(PLACES)

    def address(self, line1: str) -> str:
        street = f"{self.rng.choice(STREETS)}{self.rng.randint(1, 399)}号"
        building = self.rng.randint(1, 28)
        unit = self.rng.randint(1, 4)
        room = self.rng.randint(1, 32) * 100 + self.rng.randint(1, 6)
        estate = f"{self.rng.choice(ESTATES)}{building}栋{unit}单元{room}室"
        return f"{line1}\n{street}\n{estate}"

    def postal(self, prefix: str) -> str:
        return f"{prefix}{self.rng.randint(0, 99):02d}"

    def phone(self) -> str:
        while True:
            p = self.rng.choice(PHONE_PREFIXES) + f"{self.rng.randint(0, 99_999_999):08d}"
            if p not in self.used_phones:
                self.used_phones.add(p)
                return p

    def birth(self) -> date:
        start = date(1962, 1, 1)
        return start + timedelta(days=self.rng.randint(0, (date(2002, 12, 31) - start).days))

    def cn_id(self, region: str, birth: date | None = None, *, want_x: bool = False) -> str:
        birth = birth or self.birth()
        seq = self.rng.randint(1, 999)
        while True:
            idn = cn_id(region, birth, seq)
            if idn not in self.used_ids and (idn.endswith("X") or not want_x):
                self.used_ids.add(idn)
                return idn
            seq = seq % 999 + 1

    def hk_id(self) -> str:
        while True:
            letter = self.rng.choice("ACDEGHKPRVYZ")
            digits = f"{self.rng.randint(100000, 999999)}"
            check = hk_check(letter, digits)
            if check != "A":  # keep them all-numeric: no ambiguity about the check "A"
                return letter + digits + check

    def cents(self, lo: int, hi: int) -> Decimal:
        return Decimal(self.rng.randint(lo * 100, hi * 100)) / 100

    # -- people outside the mainland (only the second generator draws these) ---------------

    def tw_id(self) -> str:
        while True:
            letter = self.rng.choice("ABDEFHJKMNPQTUVW")
            body = self.rng.choice("12") + f"{self.rng.randint(0, 9_999_999):07d}"
            code = TW_CODES[letter]
            digits = [code // 10, code % 10, *map(int, body)]
            total = sum(d * w for d, w in zip(digits, TW_WEIGHTS, strict=True))
            idn = letter + body + str((10 - total % 10) % 10)
            if idn not in self.used_ids:
                self.used_ids.add(idn)
                return idn

    def person(self, region: str) -> dict[str, str]:
        """Name, id_type, id_number, phone, address and postal code for a region:
        hk / tw (Chinese), hk_en / tw_en (the same places in English), uk, us."""
        rng = self.rng
        if region in ("hk", "hk_en"):
            district, district_en, street, street_en = rng.choice(HK_PLACES)
            building, building_en = rng.choice(HK_BUILDINGS)
            number, floor, flat = rng.randint(1, 399), rng.randint(2, 38), rng.choice("ABCDEFGH")
            phone = f"{rng.choice('569')}{rng.randint(0, 9_999_999):07d}"
            phone = f"{phone[:4]} {phone[4:]}"
            if region == "hk":
                name = rng.choice(HK_SURNAMES) + rng.choice(HK_GIVEN)
                address = f"{district}\n{street} {number} 號\n{building} {floor} 樓 {flat} 室"
            else:
                name = rng.choice(HK_NAMES_EN)
                address = (f"Flat {flat}, {floor}/F, {building_en}\n{number} {street_en}\n"
                           f"{district_en}")
            return {"name": name, "id_type": "hk_id", "id_number": self.hk_id(),
                    "phone": phone, "address": address, "postal_code": ""}
        if region in ("tw", "tw_en"):
            district, district_en, postal = rng.choice(TW_PLACES)
            road, road_en = rng.choice(TW_ROADS)
            section, number, floor = rng.randint(1, 4), rng.randint(1, 399), rng.randint(2, 21)
            phone = f"09{rng.randint(0, 99_999_999):08d}"
            phone = f"{phone[:4]}-{phone[4:7]}-{phone[7:]}"
            if region == "tw":
                name = rng.choice(TW_SURNAMES) + rng.choice(TW_GIVEN)
                address = f"{district}\n{road}{'一二三四'[section - 1]}段 {number} 號 {floor} 樓"
            else:
                name = rng.choice(TW_NAMES_EN)
                address = f"{floor}F, No. {number}, Sec. {section}, {road_en}\n{district_en}"
            return {"name": name, "id_type": "tw_id", "id_number": self.tw_id(),
                    "phone": phone, "address": address,
                    "postal_code": f"{postal}{rng.randint(0, 999):03d}"}
        street, town, postcode = rng.choice(UK_PLACES if region == "uk" else US_PLACES)
        number = rng.randint(2, 240)
        name = rng.choice(UK_NAMES if region == "uk" else US_NAMES)
        if region == "uk":
            phone = f"+44 7700 900{rng.randint(0, 999):03d}"
            address = f"Flat {rng.randint(1, 12)}, {number} {street}\n{town}"
        else:
            phone = f"+1 202-555-01{rng.randint(0, 99):02d}"
            address = f"{number} {street}, Apt {rng.randint(1, 9)}{rng.choice('ABC')}\n{town}"
        passport = "".join(rng.choice("0123456789") for _ in range(9))
        return {"name": name, "id_type": "passport", "id_number": passport, "phone": phone,
                "address": address, "postal_code": postcode}


# ---------------------------------------------------------------------------
# figures (docs/domain.md §4), only to label the expected outcome
# ---------------------------------------------------------------------------


def money(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def dec(s: str | None) -> Decimal:
    return Decimal(s) if s else Decimal(0)


def figures(rec: dict[str, Any]) -> dict[str, Any]:
    """dpd, penalty, compound, total (at the contract rate) and the expected outcome."""
    due = date.fromisoformat(rec["due_date"])
    dpd = (AS_OF - due).days
    rate = Decimal(rec["penalty_rate_daily"])
    capped = rate * 365 > BRAND_CAP.get(rec["brand"], CAP_ANNUAL)
    p, i = dec(rec["overdue_principal"]), dec(rec["overdue_interest"])
    penalty = money(p * rate * dpd)
    comp = money(i * rate * dpd) if rec.get("compound") else Decimal(0)
    total = p + i + penalty + comp + dec(rec.get("fees")) - dec(rec.get("paid_since_due"))
    reasons = []
    if dpd <= 0:
        reasons.append("not overdue")
    elif total <= 0:
        reasons.append("nothing owed")
    reasons += [f for f in FLAGS if rec.get(f)]
    if rec.get("last_notice_date"):
        since = (AS_OF - date.fromisoformat(rec["last_notice_date"])).days
        if since < MIN_NOTICE_INTERVAL:
            reasons.append("recent notice")
    if reasons:
        outcome = "suppressed: " + ", ".join(reasons)
    else:
        outcome = "reminder" if dpd <= 30 else "formal" if dpd <= 90 else "final"
    return {
        "dpd": dpd, "penalty": penalty, "compound": comp, "total": total,
        "capped": capped, "reasons": reasons, "outcome": outcome,
    }  # fmt: skip


# ---------------------------------------------------------------------------
# good records
# ---------------------------------------------------------------------------


@dataclass
class Case:
    """One good record to build.  Fields left as None are drawn from the pool."""

    file: str  # "csv" or "yaml"
    brand: str
    case: str  # what this row covers (README coverage table)
    dpd: int | None = None
    due: date | None = None
    name: str | None = None
    id_type: str = ""  # "", "cn_resident", "hk_id", "passport"
    id_number: str | None = None
    birth: date | None = None
    want_x: bool = False
    place: tuple[str, str, str] | None = None
    address: str | None = None
    postal_code: str | None = None  # "" = leave empty
    phone: str | None = None  # "" = leave empty
    locale: str = ""
    currency: str = ""
    principal: str | None = None
    interest: str | None = None
    fees: str | None = None  # None = empty column
    rate: str = "0.0005"
    compound: bool = False
    paid: str | None = None  # None = empty column
    paid_rule: str = ""  # "exact" (pays total exactly), "over" (pays more), "partial"
    flags: tuple[str, ...] = ()
    last_notice: str = ""
    bools_empty: bool = False  # CSV: leave every boolean column empty (= false)
    explicit_false: bool = False  # YAML: write the false booleans out
    extra: dict[str, Any] = field(default_factory=dict)
    region: str = "cn"  # cn, or a Pool.person() region: hk, hk_en, tw, tw_en, uk, us


def due_of(c: Case) -> date:
    if c.due is not None:
        return c.due
    assert c.dpd is not None
    return AS_OF - timedelta(days=c.dpd)


LONG_NAME = "阿卜杜热合曼·艾合买提江·买买提明·吐尔逊"
LATIN_NAME = "Maximilian Alexander von Hohenberg-Schönfeld"
LONG_ADDRESS = (
    "新疆维吾尔自治区伊犁哈萨克自治州伊宁市\n"
    "解放西路街道阿依墩社区幸福巷与新华西路交叉口东北侧\n"
    "天山明珠国际花园小区二期第十七号楼三单元二十三层\n"
    "二三零五室（白天无人在家，请交小区南门物业服务中心代收后转交本人）"
)

M, J = "mingtai", "jinqiao"
C, Y = "csv", "yaml"

# fmt: off
CASES: list[Case] = [
    # ---------------- accounts.csv ----------------
    Case(C, M, "reminder, lower boundary dpd 1", dpd=1),
    Case(C, J, "reminder, lower boundary dpd 1", dpd=1),
    Case(C, M, "reminder, typical dpd 7", dpd=7),
    Case(C, J, "reminder, typical dpd 15", dpd=15),
    Case(C, M, "reminder, upper boundary dpd 30", dpd=30),
    Case(C, J, "reminder, upper boundary dpd 30", dpd=30),
    Case(C, M, "formal, lower boundary dpd 31", dpd=31),
    Case(C, J, "formal, lower boundary dpd 31", dpd=31),
    Case(C, M, "formal, typical dpd 45", dpd=45),
    Case(C, J, "formal, typical dpd 60", dpd=60),
    Case(C, M, "formal, upper boundary dpd 90", dpd=90),
    Case(C, J, "formal, upper boundary dpd 90", dpd=90),
    Case(C, M, "final, lower boundary dpd 91", dpd=91),
    Case(C, J, "final, lower boundary dpd 91", dpd=91),
    Case(C, M, "final, typical dpd 120", dpd=120),
    Case(C, J, "final, typical dpd 200", dpd=200),
    Case(C, M, "final, typical dpd 400", dpd=400),
    Case(C, M, "leap-day due date 2024-02-29 (final)", due=date(2024, 2, 29)),
    Case(C, J, "month-end due date 2026-10-31 (reminder)", due=date(2026, 10, 31)),
    Case(C, M, "month-end due date 2026-09-30 (formal)", due=date(2026, 9, 30)),
    Case(C, M, "not overdue: dpd 0 (due = as-of)", dpd=0),
    Case(C, J, "not overdue: dpd -5 (due in the future)", dpd=-5),
    Case(C, M, "suppressed: disputed", dpd=45, flags=("disputed",)),
    Case(C, J, "suppressed: bankrupt", dpd=150, flags=("bankrupt",)),
    Case(C, M, "suppressed: deceased", dpd=100, flags=("deceased",)),
    Case(C, J, "suppressed: cease_contact", dpd=60, flags=("cease_contact",)),
    Case(C, M, "suppressed: nothing owed (paid more than total)", dpd=20, paid_rule="over"),
    Case(C, J, "suppressed: recent notice 2026-11-17 (3 days)", dpd=40,
         last_notice="2026-11-17"),
    Case(C, M, "old notice 2026-10-01 (50 days): letter", dpd=70, last_notice="2026-10-01"),
    Case(C, M, "compound interest", dpd=75, compound=True),
    Case(C, J, "compound interest + fees", dpd=130, compound=True, fees="150.00"),
    Case(C, M, "fees", dpd=12, fees="80.00"),
    Case(C, J, "partial payment", dpd=50, paid_rule="partial"),
    Case(C, M, "penalty rate 0.001/day above 24%/year cap", dpd=95, rate="0.001"),
    Case(C, J, "zero overdue_interest", dpd=25, interest="0.00"),
    Case(C, M, "rare name character 堃", dpd=10, name="郑堃"),
    Case(C, J, "rare name character 𠮷 (U+20BB7, outside the BMP)", dpd=35, name="周𠮷祥"),
    Case(C, M, "rare name character 龘", dpd=100, name="高龘"),
    Case(C, J, "long name (21 chars) + long 4-line address (100+ chars)", dpd=65,
         name=LONG_NAME, address=LONG_ADDRESS, postal_code="835000",
         place=("新疆维吾尔自治区伊犁哈萨克自治州伊宁市", "654002", "8350")),
    Case(C, M, "hk_id holder", dpd=18, id_type="hk_id"),
    Case(C, J, "passport holder", dpd=55, id_type="passport", id_number="E71934528"),
    Case(C, M, "explicit id_type cn_resident, locale zh_CN, currency CNY", dpd=22,
         id_type="cn_resident", locale="zh_CN", currency="CNY"),
    Case(C, J, "ID with check character X", dpd=8, want_x=True),
    Case(C, M, "last notice exactly 7 days ago (2026-11-13): letter", dpd=33,
         last_notice="2026-11-13"),
    Case(C, J, "reminder dpd 2, no phone and no postal code", dpd=2, phone="", postal_code=""),
    Case(C, M, "final dpd 365, birth date 1988-02-29 in ID", dpd=365, birth=date(1988, 2, 29)),
    Case(C, J, "formal dpd 89, compound + partial payment", dpd=89, compound=True,
         paid_rule="partial"),
    Case(C, M, "all boolean columns empty (= false)", dpd=14, bools_empty=True),
    # ---------------- accounts.yaml ----------------
    Case(Y, J, "reminder, lower boundary dpd 1", dpd=1),
    Case(Y, M, "reminder, upper boundary dpd 30", dpd=30),
    Case(Y, J, "formal, lower boundary dpd 31", dpd=31),
    Case(Y, M, "formal, upper boundary dpd 90", dpd=90),
    Case(Y, J, "final, lower boundary dpd 91", dpd=91),
    Case(Y, J, "formal, typical dpd 45", dpd=45),
    Case(Y, M, "formal, typical dpd 60", dpd=60),
    Case(Y, J, "final, typical dpd 120", dpd=120),
    Case(Y, M, "final, typical dpd 200", dpd=200),
    Case(Y, J, "final, typical dpd 400", dpd=400),
    Case(Y, J, "month-end due date 2026-08-31 (formal)", due=date(2026, 8, 31)),
    Case(Y, M, "month-end due date 2026-02-28 (final)", due=date(2026, 2, 28)),
    Case(Y, J, "month-end due date 2026-06-30 (final)", due=date(2026, 6, 30)),
    Case(Y, J, "not overdue: dpd -30", dpd=-30),
    Case(Y, M, "not overdue: dpd 0", dpd=0, explicit_false=True),
    Case(Y, M, "suppressed: disputed", dpd=25, flags=("disputed",)),
    Case(Y, J, "suppressed: cease_contact", dpd=110, flags=("cease_contact",)),
    Case(Y, J, "suppressed: nothing owed (paid exactly the total, total 0.00)", dpd=40,
         paid_rule="exact", fees="30.00"),
    Case(Y, M, "suppressed: recent notice 2026-11-14 (6 days)", dpd=48,
         last_notice="2026-11-14"),
    Case(Y, J, "old notice 2026-10-01 (50 days): letter", dpd=95, last_notice="2026-10-01"),
    Case(Y, M, "rare name character 喆", dpd=5, name="沈思喆"),
    Case(Y, J, "rare name character 赟", dpd=50, name="何文赟"),
    Case(Y, M, "rare name character 㵘 (CJK Ext. A)", dpd=95, name="罗宏㵘"),
    Case(Y, J, "rare name characters 堃 + 喆, compound surname", dpd=16, name="欧阳堃喆"),
    Case(Y, J, "compound + fees + partial payment", dpd=180, compound=True, fees="200.00",
         paid_rule="partial"),
    Case(Y, M, "penalty rate 0.0012/day above 24%/year cap, compound", dpd=40, rate="0.0012",
         compound=True),
    Case(Y, J, "hk_id holder", dpd=28, id_type="hk_id"),
    Case(Y, M, "passport holder, long Latin name (44 chars)", dpd=77, id_type="passport",
         id_number="EA4827316", name=LATIN_NAME,
         address="上海市长宁区\n仙霞路288号\n虹桥国际公寓B座1608室", postal_code="200336"),
    Case(Y, J, "zero overdue_interest + fees, explicit false booleans", dpd=3,
         interest="0.00", fees="25.00", explicit_false=True),
    Case(Y, M, "explicit id_type cn_resident, locale zh_CN, currency CNY", dpd=10,
         id_type="cn_resident", locale="zh_CN", currency="CNY"),
]
# fmt: on

LM, RS = "lungmun", "risheng"

# Every locale, every currency, the regional brands: appended after CASES (see the module
# docstring). Rates stay under each brand's cap unless the case says "capped".
# fmt: off
LOCALE_CASES: list[Case] = [
    # ---------------- accounts.csv ----------------
    Case(C, LM, "zh_HK by brand default, HKD, reminder dpd 1", dpd=1, region="hk",
         currency="HKD", rate="0.0008"),
    Case(C, LM, "zh_HK, HKD, formal lower boundary dpd 31", dpd=31, region="hk", locale="zh_HK",
         currency="HKD", rate="0.0008"),
    Case(C, LM, "zh_HK, HKD, final dpd 91, 0.0012/day above the 36% cap", dpd=91, region="hk",
         currency="HKD", rate="0.0012"),
    Case(C, LM, "en_GB, HKD, formal dpd 60", dpd=60, region="hk_en", locale="en_GB",
         currency="HKD", rate="0.0008"),
    Case(C, LM, "en_GB, GBP, reminder upper boundary dpd 30, UK address", dpd=30, region="uk",
         locale="en_GB", currency="GBP", rate="0.0005"),
    Case(C, LM, "en_US, USD, final dpd 120, US address", dpd=120, region="us", locale="en_US",
         currency="USD", rate="0.0005"),
    Case(C, LM, "zh_CN, HKD, formal dpd 45, mainland resident", dpd=45, locale="zh_CN",
         currency="HKD", rate="0.0008"),
    Case(C, LM, "zh_HK, suppressed: disputed", dpd=50, region="hk", currency="HKD",
         rate="0.0008", flags=("disputed",)),
    Case(C, RS, "zh_TW by brand default, TWD, reminder dpd 1", dpd=1, region="tw",
         currency="TWD", rate="0.0004"),
    Case(C, RS, "zh_TW, TWD, reminder upper boundary dpd 30, compound", dpd=30, region="tw",
         locale="zh_TW", currency="TWD", rate="0.0004", compound=True),
    Case(C, RS, "zh_TW, TWD, formal lower boundary dpd 31", dpd=31, region="tw",
         currency="TWD", rate="0.0004"),
    Case(C, RS, "zh_TW, TWD, formal upper boundary dpd 90, fees + partial payment", dpd=90,
         region="tw", currency="TWD", rate="0.0004", fees="300.00", paid_rule="partial"),
    Case(C, RS, "zh_TW, TWD, final dpd 91, 0.0005/day above the 16% cap", dpd=91,
         region="tw", currency="TWD", rate="0.0005"),
    Case(C, RS, "zh_HK, TWD, final dpd 200 (Hong Kong resident, Taiwan bank)", dpd=200,
         region="hk", locale="zh_HK", currency="TWD", rate="0.0004"),
    Case(C, RS, "en_US, TWD, formal dpd 50", dpd=50, region="tw_en", locale="en_US",
         currency="TWD", rate="0.0004"),
    Case(C, RS, "zh_TW, not overdue: dpd 0", dpd=0, region="tw", currency="TWD",
         rate="0.0004"),
    Case(C, M, "zh_TW, CNY, formal dpd 40 (Taiwan resident in Shanghai, id_type other)",
         dpd=40, locale="zh_TW", id_type="other", id_number="08123456", name="林佳蓉",
         address="上海市徐汇区\n天钥桥路 188 号\n云锦公寓 7 楼 702 室", postal_code="200030"),
    Case(C, M, "en_US, CNY, final dpd 100, passport, English address in Shanghai", dpd=100,
         region="us", locale="en_US", currency="CNY",
         address="Room 1608, Block B, 288 Xianxia Road\nChangning District, Shanghai",
         postal_code="200336"),
    Case(C, J, "en_GB, CNY, reminder dpd 10, passport", dpd=10, region="uk", locale="en_GB",
         currency="CNY", address="Flat 5, 99 Wensan Road\nXihu District, Hangzhou",
         postal_code="310012"),
    Case(C, J, "zh_HK, CNY, formal dpd 70, hk_id", dpd=70, region="hk", locale="zh_HK",
         currency="CNY"),
    # ---------------- accounts.yaml ----------------
    Case(Y, LM, "zh_HK, HKD, final dpd 400, compound + fees", dpd=400, region="hk",
         locale="zh_HK", currency="HKD", rate="0.0008", compound=True, fees="120.00"),
    Case(Y, LM, "en_GB, HKD, reminder dpd 15", dpd=15, region="hk_en", locale="en_GB",
         currency="HKD", rate="0.0008"),
    Case(Y, LM, "zh_TW, HKD, formal upper boundary dpd 90 (Taiwan resident in Hong Kong)",
         dpd=90, region="tw", locale="zh_TW", currency="HKD", rate="0.0008",
         address="香港九龍旺角\n彌敦道 655 號\n華僑大廈 9 樓 D 室", postal_code=""),
    Case(Y, RS, "zh_TW, TWD, formal dpd 45, rare name character 喆", dpd=45, region="tw",
         currency="TWD", rate="0.0004", name="陳喆"),
    Case(Y, RS, "en_US, USD, final dpd 365", dpd=365, region="us", locale="en_US",
         currency="USD", rate="0.0004"),
    Case(Y, RS, "zh_TW, suppressed: recent notice 2026-11-16 (4 days)", dpd=35, region="tw",
         currency="TWD", rate="0.0004", last_notice="2026-11-16"),
    Case(Y, M, "en_GB, CNY, reminder dpd 5", dpd=5, region="uk", locale="en_GB",
         currency="CNY", address="Flat 12, 1888 Century Avenue\nPudong, Shanghai",
         postal_code="200120"),
    Case(Y, J, "zh_TW, CNY, final dpd 150", dpd=150, region="tw", locale="zh_TW",
         currency="CNY", address="浙江省杭州市西湖区\n文三路 258 号\n金桥花园 3 幢 1102 室",
         postal_code="310013"),
]
# fmt: on


class Counter:
    def __init__(self) -> None:
        self.n: dict[str, int] = {}

    def next(self, key: str) -> int:
        self.n[key] = self.n.get(key, 0) + 1
        return self.n[key]


def build(c: Case, pool: Pool, account_id: str, contract_seq: int) -> dict[str, Any]:
    """Build one valid record (strings; booleans as bool or None for an empty cell)."""
    rng = pool.rng
    prefix = BRAND_PREFIX[c.brand]
    due = due_of(c)
    loan = due - timedelta(days=rng.randint(90, 900))
    if c.region != "cn":
        return build_abroad(c, pool, account_id, contract_seq, loan)
    place = c.place or pool.place()
    line1, region, postal_prefix = place

    if c.id_type in ("", "cn_resident"):
        birth = c.birth or pool.birth()
        # at least 20 years old on the loan date
        if (loan - birth).days < 20 * 366:
            birth = date(loan.year - 25, birth.month, min(birth.day, 28))
        idn = c.id_number or pool.cn_id(region, birth, want_x=c.want_x)
    elif c.id_type == "hk_id":
        idn = c.id_number or pool.hk_id()
    else:
        assert c.id_number
        idn = c.id_number

    principal, interest, loan_amount = amounts(c, pool)
    rec: dict[str, Any] = {
        "account_id": account_id,
        "contract_no": f"{prefix}-LN-{loan.year}-{contract_seq:06d}",
        "brand": c.brand,
        "name": c.name or pool.name(),
        "id_number": idn,
        "id_type": c.id_type,
        "phone": pool.phone() if c.phone is None else c.phone,
        "address": c.address or pool.address(line1),
        "postal_code": pool.postal(postal_prefix) if c.postal_code is None else c.postal_code,
        "locale": c.locale,
        "currency": c.currency,
        "loan_date": loan.isoformat(),
        "loan_amount": f"{loan_amount:.2f}",
        "due_date": due.isoformat(),
        "overdue_principal": f"{principal:.2f}",
        "overdue_interest": f"{interest:.2f}",
        "fees": c.fees or "",
        "penalty_rate_daily": c.rate,
        "compound": c.compound,
        "paid_since_due": "",
        "disputed": False,
        "bankrupt": False,
        "deceased": False,
        "cease_contact": False,
        "last_notice_date": c.last_notice,
    }
    return finish(c, rec)


def amounts(c: Case, pool: Pool) -> tuple[Decimal, Decimal, Decimal]:
    """Overdue principal, overdue interest and the original loan amount."""
    rng = pool.rng
    if c.principal:
        principal = Decimal(c.principal)
    else:  # hundreds to tens of thousands of yuan (or the like in the record's currency)
        ranges = PRINCIPAL_RANGES.get(c.currency, ((300, 2000), (2000, 10000), (10000, 48000)))
        principal = pool.cents(*rng.choice(ranges))
    if c.interest is not None:
        interest = Decimal(c.interest)
    else:
        interest = money(principal * Decimal(rng.randint(80, 900)) / 10000)
    # loan amount: a round figure at least the overdue principal
    loan_amount = (principal * rng.randint(10, 40) / 10000).to_integral_value() * 1000
    loan_amount = max(loan_amount, (principal / 1000).to_integral_value("ROUND_CEILING") * 1000)
    return principal, interest, loan_amount


def build_abroad(
    c: Case, pool: Pool, account_id: str, contract_seq: int, loan: date
) -> dict[str, Any]:
    """A record of a borrower outside the mainland (Case.region), in the same shape."""
    who = pool.person(c.region)
    principal, interest, loan_amount = amounts(c, pool)
    rec: dict[str, Any] = {
        "account_id": account_id,
        "contract_no": f"{BRAND_PREFIX[c.brand]}-LN-{loan.year}-{contract_seq:06d}",
        "brand": c.brand,
        "name": c.name or who["name"],
        "id_number": c.id_number or who["id_number"],
        "id_type": c.id_type or who["id_type"],
        "phone": who["phone"] if c.phone is None else c.phone,
        "address": c.address or who["address"],
        "postal_code": who["postal_code"] if c.postal_code is None else c.postal_code,
        "locale": c.locale,
        "currency": c.currency,
        "loan_date": loan.isoformat(),
        "loan_amount": f"{loan_amount:.2f}",
        "due_date": due_of(c).isoformat(),
        "overdue_principal": f"{principal:.2f}",
        "overdue_interest": f"{interest:.2f}",
        "fees": c.fees or "",
        "penalty_rate_daily": c.rate,
        "compound": c.compound,
        "paid_since_due": "",
        "disputed": False,
        "bankrupt": False,
        "deceased": False,
        "cease_contact": False,
        "last_notice_date": c.last_notice,
    }
    return finish(c, rec)


def finish(c: Case, rec: dict[str, Any]) -> dict[str, Any]:
    """Flags, payments and empty booleans, as the case asks."""
    for f in c.flags:
        rec[f] = True
    if c.paid_rule:
        owed = figures(rec)["total"]
        if c.paid_rule == "exact":
            paid = owed
        elif c.paid_rule == "over":
            paid = (owed / 100).to_integral_value("ROUND_CEILING") * 100 + 100
        else:  # partial: a round sum, well below the total
            paid = max(Decimal(100), (owed * Decimal("0.3") / 100).to_integral_value() * 100)
        rec["paid_since_due"] = f"{paid:.2f}"
    if c.bools_empty:
        for f in BOOL_FIELDS:
            if not rec[f]:
                rec[f] = None
    return rec


def build_good(pool: Pool, locale_pool: Pool) -> list[tuple[Case, dict[str, Any]]]:
    """The original cases from ``pool``, then the locale cases from ``locale_pool``."""
    ids, contracts = Counter(), Counter()
    out = []
    for cases, source in ((CASES, pool), (LOCALE_CASES, locale_pool)):
        for c in cases:
            prefix = BRAND_PREFIX[c.brand]
            account_id = f"{prefix}-{ids.next(prefix):06d}"
            contract_seq = 100 + 37 * contracts.next(prefix)
            out.append((c, build(c, source, account_id, contract_seq)))
    return out


# ---------------------------------------------------------------------------
# bad records: one defect each
# ---------------------------------------------------------------------------


@dataclass
class Bad:
    account_id: str | None
    field: str | None
    defect: str
    mutate: Callable[[dict[str, Any]], Any]  # returns the record to write (may replace it)
    listed: bool = True  # False for the valid first row of a duplicate pair


def setter(key: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def f(rec: dict[str, Any]) -> dict[str, Any]:
        rec[key] = value
        return rec

    return f


def dropper(key: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def f(rec: dict[str, Any]) -> dict[str, Any]:
        del rec[key]
        return rec

    return f


def renamer(old: str, new: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def f(rec: dict[str, Any]) -> dict[str, Any]:
        rec = {(new if k == old else k): v for k, v in rec.items()}
        return rec

    return f


def wrong_check(rec: dict[str, Any]) -> dict[str, Any]:
    idn = rec["id_number"]
    good = GB11643_CHECK.index(idn[-1])
    rec["id_number"] = idn[:-1] + GB11643_CHECK[(good + 3) % 11]
    return rec


def legacy15(rec: dict[str, Any]) -> dict[str, Any]:
    idn = rec["id_number"]  # region + YY + MMDD + seq: the pre-1999 15-digit form
    rec["id_number"] = idn[:6] + idn[8:14] + idn[14:17]
    return rec


def extra_column(rec: dict[str, Any]) -> list[str]:
    return [*csv_row(rec), ""]


def bad_base_case(i: int, brand: str) -> Case:
    dpds = (12, 38, 64, 97, 23, 150, 5, 71, 33, 120, 18, 56, 88)
    return Case("bad", brand, "", dpd=dpds[i % len(dpds)])


BAD_CSV: list[Bad] = [
    Bad(
        "BAD-CSV-00", None, "valid row; its account_id is repeated later", lambda r: r, listed=False
    ),
    Bad("BAD-CSV-01", "name", "empty required field name", setter("name", "")),
    Bad("BAD-CSV-02", "contract_no", "empty required field contract_no", setter("contract_no", "")),
    Bad(
        "BAD-CSV-03",
        "due_date",
        "date not in ISO format (2026/11/01)",
        setter("due_date", "2026/11/01"),
    ),
    Bad(
        "BAD-CSV-04",
        "due_date",
        "impossible calendar date (2026-02-30)",
        setter("due_date", "2026-02-30"),
    ),
    Bad(
        "BAD-CSV-05",
        "overdue_principal",
        "amount with a thousands separator (12,000.00)",
        setter("overdue_principal", "12,000.00"),
    ),
    Bad(
        "BAD-CSV-06",
        "overdue_principal",
        "amount with a currency sign (¥1200.00)",
        setter("overdue_principal", "¥1200.00"),
    ),
    Bad("BAD-CSV-07", "fees", "negative amount (-50.00)", setter("fees", "-50.00")),
    Bad("BAD-CSV-08", "id_number", "wrong ID check character", wrong_check),
    Bad(
        "BAD-CSV-09",
        "disputed",
        "boolean that is not a boolean (maybe)",
        setter("disputed", "maybe"),
    ),
    Bad(
        "BAD-CSV-10",
        "penalty_rate_daily",
        "negative penalty rate (-0.0005)",
        setter("penalty_rate_daily", "-0.0005"),
    ),
    Bad("BAD-CSV-11", None, "wrong number of columns (26 instead of 25)", extra_column),
    Bad(
        "BAD-CSV-00",
        "account_id",
        "duplicate account_id (repeats BAD-CSV-00 on line 2)",
        lambda r: r,
    ),
]

NOT_A_MAPPING = "待补充：客户资料缺失，见纸质档案"

BAD_YAML: list[Bad] = [
    Bad(
        "BAD-YAML-00",
        None,
        "valid record; its account_id is repeated later",
        lambda r: r,
        listed=False,
    ),
    Bad("BAD-YAML-01", "due_date", "missing required field due_date", dropper("due_date")),
    Bad(
        "BAD-YAML-02",
        "overdue_interest",
        "amount with three decimals (100.005)",
        setter("overdue_interest", "100.005"),
    ),
    Bad(
        "BAD-YAML-03",
        "loan_amount",
        "letters in an amount (2O000.00, letter O)",
        setter("loan_amount", "2O000.00"),
    ),
    Bad("BAD-YAML-04", "id_number", "15-digit legacy ID number", legacy15),
    Bad("BAD-YAML-05", "brand", "unknown brand (yinhe)", setter("brand", "yinhe")),
    Bad(
        "BAD-YAML-06", "id_type", "unknown id_type (military_id)", setter("id_type", "military_id")
    ),
    Bad("BAD-YAML-07", "currency", "unknown currency code (XYZ)", setter("currency", "XYZ")),
    Bad(
        "BAD-YAML-08",
        "penalty_rate_daily",
        "penalty rate that is not a number (万分之五)",
        setter("penalty_rate_daily", "万分之五"),
    ),
    Bad(None, None, "list item that is not a mapping (a bare string)", lambda r: NOT_A_MAPPING),
    Bad(
        "BAD-YAML-09",
        "last_notice_dat",
        "unknown field name (last_notice_dat, a typo)",
        renamer("last_notice_date", "last_notice_dat"),
    ),
    Bad("BAD-YAML-00", "account_id", "duplicate account_id (repeats BAD-YAML-00)", lambda r: r),
]


def build_bad(pool: Pool, bads: list[Bad], brand_cycle: Iterable[str]) -> list[Any]:
    out: list[Any] = []
    brands = list(brand_cycle)
    for i, b in enumerate(bads):
        brand = brands[i % len(brands)]
        c = bad_base_case(i, brand)
        # make the intended defect the only one: a date or an amount the defect needs
        if b.account_id == "BAD-CSV-04":
            c = Case("bad", brand, "", due=date(2026, 2, 28))
        if b.account_id == "BAD-CSV-05":
            c.principal = "12000.00"
        if b.account_id == "BAD-CSV-06":
            c.principal = "1200.00"
        if b.account_id == "BAD-YAML-03":
            c.principal = "8650.00"
        if b.account_id == "BAD-YAML-09":
            c.last_notice = "2026-10-01"
        rec = build(c, pool, b.account_id or "BAD-YAML-XX", 900 + i)
        if b.account_id and b.account_id.startswith("BAD-YAML"):
            rec = yaml_ready(rec, explicit_false=False)  # omit false booleans, as in the good file
        out.append(b.mutate(rec))
    return out


# ---------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------


def csv_value(v: Any) -> str:
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def csv_row(rec: dict[str, Any]) -> list[str]:
    return [csv_value(rec.get(k)) for k in COLUMNS]


def write_csv(rows: list[dict[str, Any] | list[str]]) -> tuple[str, list[int]]:
    """CSV text (\\n line ends, UTF-8 without BOM) and the 1-based start line of each row."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    starts = []
    for row in rows:
        starts.append(buf.getvalue().count("\n") + 1)
        w.writerow(row if isinstance(row, list) else csv_row(row))
    return buf.getvalue(), starts


def yaml_scalar(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return str(v)
    # a JSON string is a valid YAML double-quoted scalar; keep non-ASCII as is
    return json.dumps(str(v), ensure_ascii=False)


def yaml_records(items: list[Any], header: str) -> tuple[str, list[int]]:
    """YAML text with a top-level ``records:`` list; start line of each ``- `` item."""
    lines = [f"# {h}" if h else "#" for h in header.splitlines()]
    lines.append("records:")
    starts = []
    for item in items:
        starts.append(len(lines) + 1)
        if not isinstance(item, dict):
            lines.append(f"  - {yaml_scalar(item)}")
            continue
        first = True
        for k, v in item.items():
            if v is None or v == "":
                continue  # omit empty optional keys
            lead = "  - " if first else "    "
            first = False
            if isinstance(v, str) and "\n" in v:
                lines.append(f"{lead}{k}: |-")
                lines.extend(f"      {ln}" for ln in v.split("\n"))
            else:
                lines.append(f"{lead}{k}: {yaml_scalar(v)}")
    return "\n".join(lines) + "\n", starts


def yaml_ready(rec: dict[str, Any], explicit_false: bool) -> dict[str, Any]:
    """Good records in YAML: false booleans omitted unless asked to write them."""
    out = dict(rec)
    for f in BOOL_FIELDS:
        if out[f] is False and not explicit_false:
            out[f] = None
    return out


def md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def readme(
    good: list[tuple[Case, dict[str, Any]]],
    n_csv: int,
    n_yaml: int,
    expected: list[dict[str, Any]],
    n_bad_csv: int,
    n_bad_yaml: int,
) -> str:
    rows = []
    stages: dict[str, int] = {}
    locales: dict[tuple[str, str], int] = {}
    for c, rec in good:
        fg = figures(rec)
        stages[fg["outcome"]] = stages.get(fg["outcome"], 0) + 1
        locale = rec["locale"] or BRAND_LOCALE[rec["brand"]]
        currency = rec["currency"] or "CNY"
        if not fg["reasons"]:
            locales[locale, currency] = locales.get((locale, currency), 0) + 1
        if fg["dpd"] <= 0:
            total = "—"
        elif fg["capped"]:
            total = "(rate capped)"
        else:
            total = f"{fg['total']:.2f}"
        rows.append([
            f"`{rec['account_id']}`", f"accounts.{c.file}", rec["brand"],
            locale + ("" if rec["locale"] else " (brand)"), currency, rec["due_date"],
            str(fg["dpd"]), fg["outcome"], total, c.case,
        ])  # fmt: skip
    bad_rows = [
        [f"`{e['account_id']}`" if e["account_id"] else "(none)", e["file"], str(e["line"]),
         f"`{e['field']}`" if e["field"] else "(whole row)", e["defect"]]
        for e in expected
    ]  # fmt: skip
    files_table = md_table(["file", "what"], [
        ["`accounts.csv`", f"{n_csv} good records, UTF-8 without BOM, header row, `\\n` line "
         "ends; addresses are multi-line quoted fields. Booleans `true`/`false` (one row "
         "leaves them empty = false)."],
        ["`accounts.yaml`", f"{n_yaml} good records as a mapping with a `records:` list; every "
         "value is a quoted string except booleans; empty optional keys are omitted, false "
         "booleans mostly too. Account IDs do not repeat those of the CSV."],
        ["`bad/bad_records.csv`", f"{n_bad_csv} rows: one valid row (`BAD-CSV-00`) and rows "
         "with exactly one defect each."],
        ["`bad/bad_records.yaml`", f"{n_bad_yaml} list items: one valid record (`BAD-YAML-00`) "
         "and items with exactly one defect each."],
        ["`bad/expected.yaml`", "an `errors:` list, one entry per defective row: `account_id` "
         "(null when none can be given), `file`, `line` (1-based physical line where the "
         "record starts; CSV counts the header as line 1 and the embedded newlines of earlier "
         "quoted fields; YAML is the line of the item's `- `), `field` (null for whole-row "
         "problems) and `defect`. The valid rows are not listed."],
    ])  # fmt: skip
    summary = md_table(
        ["expected outcome", "rows"], [[k, str(v)] for k, v in sorted(stages.items())]
    )
    by_locale = md_table(
        ["letter locale", "currency", "letters"],
        [[loc, cur, str(n)] for (loc, cur), n in sorted(locales.items())],
    )
    return f"""# Sample data

Synthetic records for the `dunning` pipeline. Everything here is invented: names, addresses,
postal codes, phone numbers, contract numbers. Mainland ID numbers (`id_type` empty or
`cn_resident`) are built with a correct GB 11643 check character and a real birth date; Hong
Kong IDs (`hk_id`) carry a correct HKID check digit (written without parentheses); passport
numbers are free-form.

**As-of date: 2026-11-20.** Every due date is computed from it, so run the batch with
`--as-of 2026-11-20` to get the days past due (dpd) and the outcomes listed below.

Do not edit these files by hand: regenerate them (byte-identical output each run) with

```sh
python scripts/make_samples.py
```

## Files

{files_table}

Brands: `mingtai` (明泰消费金融有限公司, account IDs `MT-…`) and `jinqiao`
(金桥小额贷款有限公司, `JQ-…`), both mainland lenders defaulting to locale `zh_CN` and
currency `CNY`; `lungmun` (龍門財務有限公司, `LM-…`), a Hong Kong lender defaulting to
`zh_HK` and `HKD` (rate cap 36 %); `risheng` (日昇商業銀行, `RS-…`), a Taiwan bank defaulting
to `zh_TW` and `TWD` (rate cap 16 %). A record's `locale` overrides its brand's; its
`currency` defaults to `CNY` whatever the brand (the record format says so), so the
regional records state theirs.

The records after `MT-000039` / `JQ-000039` in each file cover the other locales and
currencies: Hong Kong and Taiwan residents with `hk_id` / `tw_id` numbers, Traditional
Chinese names and addresses (Hong Kong without postal codes), English names and addresses
(UK postcodes, US ZIP codes, drama-range phone numbers), passports.

## Good records: coverage and expected outcome

Stages (default policy): reminder dpd 1–30, formal 31–90, final 91+. Suppressed: dpd ≤ 0
(not overdue), total ≤ 0 (nothing owed), `disputed`, `bankrupt`, `deceased`, `cease_contact`,
and a `last_notice_date` less than 7 days before the as-of date (recent notice). Each
suppressed row has exactly one reason. `total` is
`overdue_principal + overdue_interest + penalty + compound + fees - paid_since_due` with the
penalty (and compound) rounded half-up to the cent at the contract rate; rows whose rate is
above their brand's cap (24 %/year by default, 20 % for jinqiao, 36 % for lungmun, 16 % for
risheng) show no
total here (the pipeline applies the capped rate).

{summary}

Letters (rendered rows) per letter locale and currency:

{by_locale}

`locale` is the letter's: the record's, or its brand's default (marked "(brand)").

{md_table(["account_id", "file", "brand", "locale", "currency", "due_date", "dpd", "expected",
           "total", "covers"], rows)}

## Bad records

{md_table(["account_id", "file", "line", "field", "defect"], bad_rows)}
"""


HEADER_GOOD = """Synthetic overdue-loan records for the dunning pipeline (all data invented).
Keyed to --as-of 2026-11-20. Generated by scripts/make_samples.py: do not edit by hand."""
HEADER_BAD = """Records with exactly ONE defect each (see expected.yaml); BAD-YAML-00 is valid.
Generated by scripts/make_samples.py: do not edit by hand."""


def expected_yaml(expected: list[dict[str, Any]]) -> str:
    lines = [
        "# Expected rejections for bad_records.csv and bad_records.yaml (as-of 2026-11-20).",
        "# line: 1-based physical line where the record starts (CSV: header is line 1;",
        "# YAML: the line of the item's '- '). field: null for whole-row problems.",
        "# The valid rows BAD-CSV-00 (line 2) and BAD-YAML-00 are not listed.",
        "# Generated by scripts/make_samples.py: do not edit by hand.",
        "errors:",
    ]
    for e in expected:
        lines.append(f"  - account_id: {yaml_scalar(e['account_id'])}")
        for k in ("file", "line", "field", "defect"):
            lines.append(f"    {k}: {yaml_scalar(e[k])}")
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def main() -> int:
    pool = Pool(SEED)
    good = build_good(pool, Pool(SEED + 1))
    for c, rec in good:
        fg = figures(rec)
        if c.dpd is not None:
            assert fg["dpd"] == c.dpd, (rec["account_id"], fg["dpd"], c.dpd)
        assert len(fg["reasons"]) <= 1, (rec["account_id"], fg["reasons"])

    csv_good = [rec for c, rec in good if c.file == C]
    yaml_good = [yaml_ready(rec, c.explicit_false) for c, rec in good if c.file == Y]
    csv_text, _ = write_csv(list(csv_good))
    yaml_text, _ = yaml_records(yaml_good, HEADER_GOOD)

    bad_csv = build_bad(pool, BAD_CSV, (M, J))
    bad_yaml = build_bad(pool, BAD_YAML, (J, M))
    bad_csv_text, csv_starts = write_csv(bad_csv)
    bad_yaml_text, yaml_starts = yaml_records(bad_yaml, HEADER_BAD)

    expected = []
    for fname, bads, starts in (
        ("bad_records.csv", BAD_CSV, csv_starts),
        ("bad_records.yaml", BAD_YAML, yaml_starts),
    ):
        for b, line in zip(bads, starts, strict=True):
            if b.listed:
                expected.append(
                    {
                        "account_id": b.account_id,
                        "file": fname,
                        "line": line,
                        "field": b.field,
                        "defect": b.defect,
                    }
                )

    files = {
        OUT / "accounts.csv": csv_text,
        OUT / "accounts.yaml": yaml_text,
        BAD / "bad_records.csv": bad_csv_text,
        BAD / "bad_records.yaml": bad_yaml_text,
        BAD / "expected.yaml": expected_yaml(expected),
        OUT / "README.md": readme(
            good, len(csv_good), len(yaml_good), expected, len(bad_csv), len(bad_yaml)
        ),
    }
    for path, text in files.items():
        write(path, text)

    # self-check: the files parse back with the right counts
    with (OUT / "accounts.csv").open(encoding="utf-8", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(csv_good)
    assert len(yaml.safe_load(yaml_text)["records"]) == len(yaml_good)
    assert len(yaml.safe_load(bad_yaml_text)["records"]) == len(bad_yaml)
    assert len(yaml.safe_load(files[BAD / "expected.yaml"])["errors"]) == len(expected)

    sys.stdout.write(
        f"wrote {len(csv_good)} + {len(yaml_good)} good records, "
        f"{len(bad_csv)} + {len(bad_yaml)} bad-file rows, {len(expected)} expected errors "
        f"under {OUT.relative_to(ROOT)}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
