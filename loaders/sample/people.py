"""Customers of the sample city: who they are, where they live, how to reach them.

Customers fill the meter boxes laid out by ``layout`` (box order, so account numbers
grow by area like a real archive). Every column is drawn with vectorized numpy; names
and addresses are built by concatenating object arrays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from loaders.sample.city import cumcount
from loaders.sample.layout import Grid
from loaders.sample.vocab import (
    COMPANY_TRADES,
    FAMOUS_HOSPITALS,
    FEMALE_CHARS,
    GOV_DEPARTMENTS,
    HEAVY_INDUSTRIES,
    MALE_CHARS,
    MOBILE_PREFIXES,
    PLACES,
    SHOP_TYPES,
    SURNAMES,
)

__all__ = ["CATEGORIES", "REFERENCE_DATE", "generate_customers", "random_mobiles"]

REFERENCE_DATE = np.datetime64("2026-10-31")  # "today" of the sample: fixed for determinism
CATEGORIES = ("居民", "非居民", "大工业", "农业", "商业")
_CATEGORY_P = (0.88, 0.09, 0.01, 0.01, 0.01)
# per category: (sensitivity, probability) — ≈ 1 % overall
_SENSITIVE_P: dict[str, tuple[tuple[str, float], ...]] = {
    "居民": (("生命支持", 0.003),),
    "非居民": (("医院", 0.018), ("政府", 0.02), ("重要客户", 0.025)),
    "大工业": (("大客户", 0.12), ("重要客户", 0.03)),
    "商业": (("大客户", 0.04), ("重要客户", 0.02)),
}
# contract capacity choices (kVA) by category, institution, or 大客户
_KVA: dict[str, tuple[int, ...]] = {
    "居民": (4, 5, 6, 6, 8, 8, 10),
    "非居民": (10, 15, 20, 30, 50, 80, 100),
    "大工业": (315, 400, 500, 630, 800, 1000, 1250, 1600),
    "农业": (10, 15, 20, 30, 50),
    "商业": (20, 30, 50, 80, 100, 160, 200, 315),
    "医院": (200, 315, 500, 630, 800, 1000),
    "政府": (50, 80, 100, 160, 200),
    "重要客户": (50, 100, 160, 200, 315),
    "大客户": (315, 400, 500, 630, 800, 1000),
}
# name templates: "{field}" parts are drawn per row, other parts are literal
_NAME_TEMPLATES: dict[str, tuple[tuple[str, ...], ...]] = {
    "医院": (
        ("佛山市", "{district}", "{place}", "医院"),
        ("佛山", "{trade}", "医院"),
        ("{street}", "社区卫生服务中心"),
    ),
    "政府": (
        ("佛山市", "{district}", "{place}", "街道办事处"),
        ("佛山市", "{district}", "人民政府"),
        ("佛山市公安局", "{district}", "分局", "{place}", "派出所"),
        ("{place}", "社区居民委员会"),
        ("佛山市", "{district}", "{dept}"),
    ),
    "重要客户": (
        ("佛山市", "{district}", "{place}", "小学"),
        ("佛山市", "{place}", "中学"),
        ("佛山水务", "{place}", "水厂"),
        ("{place}", "通信基站"),
        ("佛山地铁", "{place}", "站"),
        ("{place}", "燃气调压站"),
        ("{trade}", "数据中心"),
        ("{place}", "污水处理厂"),
    ),
    "非居民": (
        ("佛山市", "{district}", "{trade}", "{shop}"),
        ("佛山市", "{district}", "{trade}", "{shop}"),
        ("{surname}", "记", "{shop}"),
    ),
    "商业": (
        ("佛山市", "{trade}", "商贸有限公司"),
        ("{trade}", "购物广场"),
        ("佛山", "{trade}", "酒店"),
        ("佛山市", "{trade}", "百货有限公司"),
    ),
    "大工业": (
        ("佛山市", "{trade}", "{heavy}", "有限公司"),
        ("佛山市", "{district}", "{trade}", "{heavy}", "厂"),
    ),
    "农业": (
        ("佛山市", "{district}", "{place}", "村股份合作经济社"),
        ("佛山市", "{trade}", "种养专业合作社"),
        ("{place}", "{trade}", "养殖场"),
        ("{trade}", "花卉场"),
    ),
}
_OPENID_ALPHABET = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8
)


def generate_customers(rng: np.random.Generator, grid: Grid) -> pd.DataFrame:
    """One row per customer, meter box by meter box, in local metres.

    Columns: account_no, name, address, phone, phone_alt, wechat_openid, category,
    contract_kva, sensitivity, box, transformer, supply_node (row positions in the grid
    tables), x, y, location_quality, contact_verified_at, street.
    """
    boxes = grid.boxes
    per_box = boxes["customers"].to_numpy()
    box = np.repeat(np.arange(len(boxes)), per_box)
    rank = cumcount(per_box)
    n = len(box)

    category = np.array(CATEGORIES, dtype=object)[rng.choice(len(CATEGORIES), n, p=_CATEGORY_P)]
    sensitivity = _sensitivity(rng, category)
    # what drives names: hospitals, government and public services are institutions
    kind = category.copy()
    institution = np.isin(sensitivity, ("医院", "政府")) | ((sensitivity == "重要客户") & (category == "非居民"))
    kind[institution] = sensitivity[institution]
    district = boxes["district"].to_numpy(dtype=object)[box]
    street = boxes["street"].to_numpy(dtype=object)[box]

    gaps = rng.integers(1, 20, n)
    account_no = "03" + np.char.zfill((100_000 + np.cumsum(gaps)).astype(str), 8).astype(object)
    name = _names(rng, kind, district, street)
    address = _addresses(rng, boxes, box, rank, kind, sensitivity)
    phone = random_mobiles(rng, n)
    shared = np.flatnonzero(rng.random(n) < 0.01)
    shared = shared[(shared > 0) & (box[shared] == box[shared - 1])]
    phone[shared] = phone[shared - 1]  # a landlord or family holding several accounts
    phone_alt = _alt_phones(rng, n)
    wechat = np.where(rng.random(n) < 0.35, _openids(rng, n), "").astype(object)
    contract = _contract_kva(rng, kind, sensitivity)

    surveyed = rng.random(n) < 0.7
    dist = 3.0 + 27.0 * rng.random(n)
    ang = rng.uniform(0, 2 * np.pi, n)
    x = boxes["x"].to_numpy()[box] + np.where(surveyed, dist * np.cos(ang), 0.0)
    y = boxes["y"].to_numpy()[box] + np.where(surveyed, dist * np.sin(ang), 0.0)
    days = np.minimum(rng.exponential(550.0, n), 2000).astype(np.int64)
    verified = (REFERENCE_DATE - days.astype("timedelta64[D]")).astype(str).astype(object)

    return pd.DataFrame(
        {
            "account_no": account_no,
            "name": name,
            "address": address,
            "phone": phone,
            "phone_alt": phone_alt,
            "wechat_openid": wechat,
            "category": category,
            "contract_kva": contract,
            "sensitivity": sensitivity,
            "box": box,
            "transformer": boxes["transformer"].to_numpy()[box],
            "supply_node": boxes["node"].to_numpy()[box],
            "x": x,
            "y": y,
            "location_quality": np.where(surveyed, "surveyed", "meter_box").astype(object),
            "contact_verified_at": verified,
            "street": street,
        }
    )


def random_mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` 11-digit mobile numbers with real 13x/15x/17x/18x/19x prefixes."""
    prefixes = np.array([p for p, _ in MOBILE_PREFIXES], dtype=np.int64)
    weights = np.array([w for _, w in MOBILE_PREFIXES])
    number = prefixes[rng.choice(len(prefixes), n, p=weights / weights.sum())] * 10**8
    return (number + rng.integers(0, 10**8, n)).astype(str).astype(object)


def _sensitivity(rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
    """Sensitivity label per customer (mostly empty), drawn per category."""
    out = np.full(len(category), "", dtype=object)
    u = rng.random(len(category))
    for cat, options in _SENSITIVE_P.items():
        mask = category == cat
        low = 0.0
        for label, p in options:
            out[mask & (u >= low) & (u < low + p)] = label
            low += p
    return out


def _pick(rng: np.random.Generator, words: tuple[str, ...], n: int) -> np.ndarray:
    return np.array(words, dtype=object)[rng.integers(len(words), size=n)]


def _surnames(rng: np.random.Generator, n: int) -> np.ndarray:
    weights = np.array([w for _, w in SURNAMES])
    return np.array([s for s, _ in SURNAMES], dtype=object)[rng.choice(len(SURNAMES), n, p=weights / weights.sum())]


def _personal_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Surname + one or two given-name characters (about a quarter are two-character names)."""
    male = rng.random(n) < 0.5
    first = np.where(male, _pick(rng, MALE_CHARS, n), _pick(rng, FEMALE_CHARS, n))
    second = np.where(male, _pick(rng, MALE_CHARS, n), _pick(rng, FEMALE_CHARS, n))
    single = rng.random(n) < 0.25
    return _surnames(rng, n) + np.where(single, first, first + second)


def _names(rng: np.random.Generator, kind: np.ndarray, district: np.ndarray, street: np.ndarray) -> np.ndarray:
    """Personal names for households, institution / company names for the rest."""
    out = np.empty(len(kind), dtype=object)
    home = kind == "居民"
    out[home] = _personal_names(rng, int(home.sum()))
    for label, templates in _NAME_TEMPLATES.items():
        idx = np.flatnonzero(kind == label)
        m = len(idx)
        fields = {
            "{district}": district[idx],
            "{street}": street[idx],
            "{place}": _pick(rng, PLACES, m),
            "{trade}": _pick(rng, COMPANY_TRADES, m),
            "{shop}": _pick(rng, SHOP_TYPES, m),
            "{heavy}": _pick(rng, HEAVY_INDUSTRIES, m),
            "{dept}": _pick(rng, GOV_DEPARTMENTS, m),
            "{surname}": _surnames(rng, m),
        }
        which = rng.integers(len(templates), size=m)
        names = np.full(m, "", dtype=object)
        for t, parts in enumerate(templates):
            sel = which == t
            for part in parts:
                names[sel] = names[sel] + (fields[part][sel] if part in fields else part)
        if label == "医院":
            famous = min(m, len(FAMOUS_HOSPITALS))
            names[:famous] = FAMOUS_HOSPITALS[:famous]
        out[idx] = names
    return out


def _addresses(
    rng: np.random.Generator,
    boxes: pd.DataFrame,
    box: np.ndarray,
    rank: np.ndarray,
    kind: np.ndarray,
    sensitivity: np.ndarray,
) -> np.ndarray:
    """用电地址 on the meter box's street: flats for households, shop units, or the plot."""
    plot = (
        "佛山市"
        + boxes["district"].to_numpy(dtype=object)
        + boxes["street"].to_numpy(dtype=object)
        + boxes["house_no"].to_numpy().astype(str).astype(object)
        + "号"
    )[box]
    building = boxes["building"].to_numpy().astype(str).astype(object)[box] + "栋"
    first_floor = rng.integers(1, 12, len(boxes))[box]
    per_floor = rng.integers(2, 5, len(boxes))[box]
    room = ((first_floor + rank // per_floor) * 100 + rank % per_floor + 1).astype(str).astype(object)
    shop = "首层" + (rank + 1).astype(str).astype(object) + "号铺"
    small_business = np.isin(kind, ("非居民", "商业")) & (sensitivity == "")
    return np.where(kind == "居民", plot + building + room, np.where(small_business, plot + building + shop, plot))


def _alt_phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """A second contact for ~25 %: a Foshan landline (0757-8xxxxxxx) or another mobile."""
    u = rng.random(n)
    landline = "0757-" + rng.integers(81_000_000, 89_000_000, n).astype(str).astype(object)
    return np.where(u < 0.10, landline, np.where(u < 0.25, random_mobiles(rng, n), "")).astype(object)


def _openids(rng: np.random.Generator, n: int) -> np.ndarray:
    """WeChat-style openids: "o" + 27 URL-safe characters."""
    body = _OPENID_ALPHABET[rng.integers(0, 64, (n, 27))]
    raw = np.concatenate([np.full((n, 1), ord("o"), dtype=np.uint8), body], axis=1)
    return raw.view("S28").ravel().astype(str).astype(object)


def _contract_kva(rng: np.random.Generator, kind: np.ndarray, sensitivity: np.ndarray) -> np.ndarray:
    """Contract capacity: 4–10 kVA for households, larger by category / institution; 大客户 ≥ 315."""
    out = np.zeros(len(kind), dtype=np.int64)
    key = np.where(sensitivity == "大客户", sensitivity, kind)
    for label, choices in _KVA.items():
        mask = key == label
        out[mask] = np.array(choices)[rng.integers(len(choices), size=int(mask.sum()))]
    return out
