"""The emotion label of a customer (calm / concerned / angry) from explicit rules, with reasons.

The label is the most severe outcome of these rules over the customer's interactions up to
``now`` (thresholds in :class:`EmotionRules`, all configurable):

=====================  ==========================================================  =========
rule                   fires when                                                  label
=====================  ==========================================================  =========
complaints_30d         ≥ ``angry_complaints_30d`` complaints (投诉) in 30 days      angry
sensitive_words_30d    a sensitive word in a contact of the last 30 days           angry
repeat_with_complaint  repeat contacts (below) and a complaint in 30 days          angry
repeat_contacts        ≥ ``repeat_min`` contacts within ``repeat_days`` days,      concerned
                       the window ending in the last 30 days
complaint_90d          a complaint in the last 90 days                             concerned
sensitive_words_90d    a sensitive word in a contact of the last 90 days           concerned
=====================  ==========================================================  =========

No rule fires → calm. Every fired rule is returned as a reason (code, zh and en text, and the
interaction ids that made it fire), so an agent sees why, not just a colour.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from interactions.sensitive_words import WordMatcher

__all__ = ["EmotionRules", "EmotionReason", "Emotion", "emotion_label", "LABELS"]

LABELS = ("calm", "concerned", "angry")
LABELS_ZH = {"calm": "平静", "concerned": "关注", "angry": "激动"}
_RANK = {label: i for i, label in enumerate(LABELS)}
COMPLAINT = "投诉"


@dataclass(frozen=True)
class EmotionRules:
    angry_complaints_30d: int = 2
    repeat_min: int = 3
    repeat_days: int = 7
    recent_days: int = 30
    long_days: int = 90


@dataclass(frozen=True)
class EmotionReason:
    code: str
    label: str
    zh: str
    en: str
    interactions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "label": self.label, "zh": self.zh, "en": self.en,
                "interactions": list(self.interactions)}


@dataclass(frozen=True)
class Emotion:
    label: str
    reasons: tuple[EmotionReason, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        return {"label": self.label, "label_zh": LABELS_ZH[self.label], "reasons": [r.to_dict() for r in self.reasons]}


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def emotion_label(interactions: Sequence[Mapping[str, object]], *, now: dt.datetime,
                  matcher: WordMatcher, rules: EmotionRules | None = None, name_words: bool = True) -> Emotion:
    """The label and its reasons. ``interactions``: mappings with id, kind, occurred_at, text.

    With ``name_words=False`` (a reader who may not see the interaction texts) a sensitive-word
    reason says how many contacts held such words, not which words: the words are part of the text.
    """
    rules = rules if rules is not None else EmotionRules()
    now = _aware(now)
    items = sorted(
        ((_aware(r["occurred_at"]), str(r["id"]), str(r.get("kind") or ""), r.get("text"))  # type: ignore[arg-type]
         for r in interactions if r.get("occurred_at") is not None and _aware(r["occurred_at"]) <= now),  # type: ignore[arg-type]
        key=lambda t: (t[0], t[1]),
    )
    recent_start = now - dt.timedelta(days=rules.recent_days)
    long_start = now - dt.timedelta(days=rules.long_days)
    recent = [t for t in items if t[0] > recent_start]
    long = [t for t in items if t[0] > long_start]
    c30 = [t[1] for t in recent if t[2] == COMPLAINT]
    c90 = [t[1] for t in long if t[2] == COMPLAINT]
    words30 = {t[1]: matcher.words_in(t[3]) for t in recent}
    words90 = {t[1]: matcher.words_in(t[3]) for t in long}
    words30 = {k: v for k, v in words30.items() if v}
    words90 = {k: v for k, v in words90.items() if v}
    burst = _repeat_burst(items, recent_start, rules)

    reasons: list[EmotionReason] = []
    if len(c30) >= rules.angry_complaints_30d:
        reasons.append(EmotionReason("complaints_30d", "angry", f"近{rules.recent_days}天投诉 {len(c30)} 次",
                                     f"{len(c30)} complaints in the last {rules.recent_days} days", tuple(c30)))
    if words30:
        zh, en = _word_texts(words30, rules.recent_days, name_words)
        reasons.append(EmotionReason("sensitive_words_30d", "angry", zh, en, tuple(words30)))
    if burst and c30:
        reasons.append(EmotionReason("repeat_with_complaint", "angry",
                                     f"{rules.repeat_days}天内来电 {len(burst)} 次且近期有投诉",
                                     f"{len(burst)} contacts within {rules.repeat_days} days and a recent complaint",
                                     tuple(burst)))
    if burst:
        reasons.append(EmotionReason("repeat_contacts", "concerned", f"{rules.repeat_days}天内重复联系 {len(burst)} 次",
                                     f"{len(burst)} contacts within {rules.repeat_days} days", tuple(burst)))
    if c90:
        reasons.append(EmotionReason("complaint_90d", "concerned", f"近{rules.long_days}天投诉 {len(c90)} 次",
                                     f"{len(c90)} complaint(s) in the last {rules.long_days} days", tuple(c90)))
    if words90:
        zh, en = _word_texts(words90, rules.long_days, name_words)
        reasons.append(EmotionReason("sensitive_words_90d", "concerned", zh, en, tuple(words90)))
    label = max((r.label for r in reasons), key=_RANK.__getitem__, default="calm")
    return Emotion(label, tuple(reasons))


def _word_texts(words: Mapping[str, Sequence[str]], days: int, name_words: bool) -> tuple[str, str]:
    """The reason's Chinese and English text: the words found, or only how many contacts held some."""
    if not name_words:
        return (f"近{days}天 {len(words)} 次联系出现敏感词", f"sensitive words in {len(words)} contact(s) in the last {days} days")
    found = list(dict.fromkeys(w for v in words.values() for w in v))
    return f"近{days}天出现敏感词：{'、'.join(found)}", f"sensitive words in the last {days} days: {', '.join(found)}"


def _repeat_burst(items: list[tuple[dt.datetime, str, str, object]], since: dt.datetime,
                  rules: EmotionRules) -> list[str]:
    """Ids of the largest run of contacts within ``repeat_days`` ending after ``since`` (≥ repeat_min), else []."""
    span = dt.timedelta(days=rules.repeat_days)
    best: list[str] = []
    lo = 0
    for hi, (t, _, _, _) in enumerate(items):
        while items[lo][0] < t - span:
            lo += 1
        if t > since and hi - lo + 1 > len(best):
            best = [it[1] for it in items[lo:hi + 1]]
    return best if len(best) >= rules.repeat_min else []
