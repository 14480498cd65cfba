"""The LLM judge's rubric: one prompt per dimension, the JSON shape of an answer, and its strict parser.

The judge is asked to do the arithmetic-free part only: name 1-3 key points of the real reply along one
dimension, rate every candidate on every key point, and give every candidate a penalty. The score,
``clip(mean(ratings) - penalty, 0, 1)``, is computed here, so a model that adds badly cannot skew it.

Candidates carry opaque ids (``c1``, ``c2``, ...) handed out in the shuffled order the judge reads them
in; :func:`parse_answer` returns scores by id and the caller maps ids back to its own order.

:data:`RUBRIC_VERSION` is part of every cache key: change it whenever a prompt or the parser changes
meaning, so old cached judgements are not mixed with new ones.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from personadrop.data.example import STATE_DIMENSIONS

RUBRIC_VERSION = "rubric-2"

#: Per dimension: what the judge compares. The response dimension looks at the reply as a whole.
ASPECTS: dict[str, str] = {
    "response": "the reply as a whole: the position it takes, the reasons and feelings it shows, "
    "and the way it is written",
    "stance": "whether the writer agrees or disagrees, how strongly, and with whom or what in the thread",
    "emotion": "the feeling the writer shows, how intense it is, and what it is aimed at",
    "belief": "the general assumption about how people or the world work that the reply rests on",
    "value": "what the writer thinks should matter most or come first in this situation",
    "goal": "what the writer is trying to achieve by replying (support, persuade, mock, ask, warn, ...)",
    "communication": "the tone of the reply and how it is built: length, structure, register",
}

#: Room for the judge's answer: a short list of key points, then ~20 tokens per candidate.
ANSWER_BASE_TOKENS = 120
ANSWER_TOKENS_PER_CANDIDATE = 30

_MAX_KEY_POINTS = 3
# Long threads are cut in the middle: the post (start) and the turns just before the reply (end) matter most.
_MAX_CONTEXT_CHARS = 12_000
_MAX_TEXT_CHARS = 4_000

_SYSTEM = """\
You grade how closely candidate replies match what a real person actually wrote in an online discussion.
You are shown the discussion, the real person's reply, and candidates written by simulators that tried \
to predict that person. Judge one aspect only: {aspect}.

Work in three steps.
1. Key points: from the real reply, pick 1 to 3 points that capture it on this aspect. Write each in a \
few words.
2. Ratings: for every candidate and every key point, give a number from 0 to 1. 1 means the candidate \
conveys the point as the real reply does; 0.5 means partly, vaguely or with the wrong strength; 0 means \
the point is missing or contradicted.
3. Penalty: for every candidate, a number from 0 to 1 for content the real reply gives no ground for: \
claims or feelings that conflict with it, material off the aspect or off the topic, or a candidate far \
longer than the real reply. 0 means nothing of the kind.

Grade each candidate on its own merits but keep one scale for all of them. Full marks should be rare: \
give them only when a reader could mistake the candidate for the real reply on this aspect. Candidate \
order carries no meaning.

Answer with one JSON object and nothing else:
{{"key_points": ["...", "..."], "judgements": [{{"id": "c1", "ratings": [1, 0.5], "penalty": 0}}]}}
Give exactly one judgement per candidate id and, in each, one rating per key point in key point order."""


class MalformedAnswer(ValueError):
    """The judge's answer is not the JSON the rubric asks for (even after one repair pass)."""


@dataclass(frozen=True)
class RubricPrompt:
    """What one judge call sends: a system and a user message, and the candidate ids in reading order."""

    system: str
    user: str
    ids: tuple[str, ...]


def answer_schema() -> dict[str, object]:
    """JSON schema of an answer, for APIs with structured output (kept to keywords both APIs accept)."""
    judgement = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "ratings": {"type": "array", "items": {"type": "number"}},
            "penalty": {"type": "number"},
        },
        "required": ["id", "ratings", "penalty"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "key_points": {"type": "array", "items": {"type": "string"}},
            "judgements": {"type": "array", "items": judgement},
        },
        "required": ["key_points", "judgements"],
        "additionalProperties": False,
    }


def _clip_middle(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters left out ...]\n{text[-half:]}"


def build_prompt(
    dimension: str,
    context: str,
    reference: str,
    candidates: Sequence[str],
    reference_state: str | None = None,
) -> RubricPrompt:
    """The judge prompt for ``candidates`` given in the order the judge should read them.

    ``reference_state``: the real user's state along ``dimension`` where the data knows it; shown next
    to the real reply as extra evidence, never instead of it.
    """
    if dimension not in ASPECTS:
        raise ValueError(f"no rubric for dimension {dimension!r}")
    ids = tuple(f"c{i + 1}" for i in range(len(candidates)))
    parts = [
        "## Discussion",
        _clip_middle(context.strip(), _MAX_CONTEXT_CHARS),
        "## The real reply",
        _clip_middle(reference.strip(), _MAX_TEXT_CHARS),
    ]
    if reference_state and dimension in STATE_DIMENSIONS:
        parts += [f"## The real person's {dimension}, as recorded", reference_state.strip()]
    kind = "replies" if dimension == "response" else f"statements of the person's {dimension}"
    parts.append(f"## Candidates ({len(ids)} {kind})")
    for cid, text in zip(ids, candidates, strict=True):
        parts.append(f'<candidate id="{cid}">\n{_clip_middle(text.strip(), _MAX_TEXT_CHARS)}\n</candidate>')
    return RubricPrompt(_SYSTEM.format(aspect=ASPECTS[dimension]), "\n\n".join(parts), ids)


def max_answer_tokens(n_candidates: int) -> int:
    """A generous output budget for judging ``n_candidates`` at once."""
    return ANSWER_BASE_TOKENS + ANSWER_TOKENS_PER_CANDIDATE * n_candidates


def expected_answer_tokens(n_candidates: int) -> int:
    """About what an answer takes (three short key points, ~20 tokens of JSON per candidate), for plans."""
    return 40 + 20 * n_candidates


# --------------------------------------------------------------------------- parsing
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _repair(text: str) -> str:
    """One repair pass for the usual slips: a code fence, prose around the object, trailing commas."""
    text = _FENCE.sub("", text.strip())
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        text = text[start : end + 1]
    return _TRAILING_COMMA.sub(r"\1", text)


def _unit_number(value: object, what: str) -> float:
    # bool is an int in Python; a judge writing true/false has misread the rubric.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedAnswer(f"{what} is not a number: {value!r}")
    if not -1e-6 <= value <= 1 + 1e-6:
        raise MalformedAnswer(f"{what} is outside [0, 1]: {value!r}")
    return min(max(float(value), 0.0), 1.0)


def _validate(answer: object, ids: Sequence[str]) -> dict[str, float]:
    if not isinstance(answer, Mapping):
        raise MalformedAnswer("the answer is not a JSON object")
    points = answer.get("key_points")
    judgements = answer.get("judgements")
    if not isinstance(points, list) or not 1 <= len(points) <= _MAX_KEY_POINTS:
        raise MalformedAnswer(f"key_points must be a list of 1 to {_MAX_KEY_POINTS} items")
    if not isinstance(judgements, list):
        raise MalformedAnswer("judgements must be a list")
    expected = set(ids)
    scores: dict[str, float] = {}
    for j in judgements:
        if not isinstance(j, Mapping):
            raise MalformedAnswer("a judgement is not an object")
        cid = j.get("id")
        if cid not in expected:
            raise MalformedAnswer(f"judgement for unknown candidate {cid!r}")
        if cid in scores:
            raise MalformedAnswer(f"two judgements for candidate {cid!r}")
        ratings = j.get("ratings")
        if not isinstance(ratings, list) or len(ratings) != len(points):
            raise MalformedAnswer(f"candidate {cid!r} needs one rating per key point ({len(points)})")
        coverage = sum(_unit_number(r, f"a rating of {cid!r}") for r in ratings) / len(ratings)
        penalty = _unit_number(j.get("penalty"), f"the penalty of {cid!r}")
        scores[cid] = min(max(coverage - penalty, 0.0), 1.0)
    missing = expected - scores.keys()
    if missing:
        raise MalformedAnswer(f"no judgement for candidates {', '.join(sorted(missing))}")
    return scores


def parse_answer(text: str, ids: Sequence[str]) -> dict[str, float]:
    """Scores by candidate id from the judge's text; raises :class:`MalformedAnswer`.

    Strict: every id exactly once, ratings and penalties numbers in [0, 1]. The text is parsed as is
    first and, failing that, once more after :func:`_repair`; the values are never guessed.
    """
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        try:
            answer = json.loads(_repair(text))
        except json.JSONDecodeError as e:
            raise MalformedAnswer(f"not JSON even after repair ({e.msg} at char {e.pos})") from None
    return _validate(answer, ids)
