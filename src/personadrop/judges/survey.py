"""The survey judge (``survey``): reads the answer out of a reply to a survey question and scores it.

The question's options come from the post itself (its last line, as :mod:`personadrop.data.survey` writes it:
``Options (ordinal, lowest first): a | b | c``). A reply is read as the option it names: the whole reply equal
to an option's text, else the option whose text appears first in it (the longest where several start at the
same place), else a leading option number (``3`` or ``3.``); a reply that names every option of three or more
(the question restated) names none. A nominal answer scores 1 when it is the real one and 0 otherwise; an
ordinal answer scores 1 - |a - b| / (K - 1) for options a and b of K. A reply naming no option scores 0 and is
counted in :attr:`SurveyJudge.unreadable` (the simulator failed to answer; not a judge failure). It scores the
answer alone: it reads no latent state, so it cannot reward HumanLM's states.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from personadrop.data.survey import OPTIONS_PREFIX, SEPARATOR
from personadrop.judges.base import Judge, JudgeRequest

_OPTIONS_LINE = re.compile(rf"^{OPTIONS_PREFIX} \((ordinal|nominal)[^)]*\): (.+)$", re.M)
_WORD = re.compile(r"[^a-z0-9$%+]+")


@dataclass(frozen=True)
class Question:
    kind: str  # ordinal or nominal
    options: tuple[str, ...]

    def read(self, reply: str) -> int | None:
        """The index of the option ``reply`` names; None when it names none."""
        text = _norm(reply)
        norms = [_norm(o) for o in self.options]
        for k, option in enumerate(norms):
            if text == option:
                return k
        found = [(m.start(), -len(option), k) for k, option in enumerate(norms) if option and
                 (m := re.search(rf"(?<![a-z0-9]){re.escape(option)}(?![a-z0-9])", text))]  # fmt: skip
        if len(found) == len(self.options) >= 3:
            return None  # it lists every option: the question restated, no answer
        if found:
            return min(found)[2]
        number = re.match(r"^\s*(\d+)\b", reply)
        if number and 1 <= int(number.group(1)) <= len(self.options):
            return int(number.group(1)) - 1
        return None

    def score(self, answer: int, real: int) -> float:
        if self.kind == "nominal":
            return float(answer == real)
        return 1.0 - abs(answer - real) / (len(self.options) - 1)


def read_question(context: str) -> Question | None:
    """The question a thread asks (its last options line); None for a thread that is no survey question."""
    found = _OPTIONS_LINE.findall(context)
    if not found:
        return None
    kind, options = found[-1]
    return Question(kind, tuple(o.strip() for o in options.split(SEPARATOR.strip())))


def _norm(text: str) -> str:
    return _WORD.sub(" ", text.lower()).strip()


class SurveyJudge(Judge):
    """Scores replies to survey questions by the answer they give (see the module docstring)."""

    name = "survey"
    dimensions = ("response",)

    def __init__(self) -> None:
        super().__init__()
        self.unreadable = 0

    def score(self, requests: Sequence[JudgeRequest]) -> list[list[float]]:
        out = []
        for request in requests:
            if request.dimension not in self.dimensions:
                from personadrop.judges import check_judge_dimensions

                check_judge_dimensions(self.name, [request.dimension])
            self.usage.calls += 1
            question = read_question(request.context)
            real = question.read(request.reference) if question else None
            if question is None or real is None:  # not a survey row: nothing to score against
                self.usage.failures += len(request.generations)
                out.append([float("nan")] * len(request.generations))
                continue
            scores = []
            for reply in request.generations:
                answer = question.read(reply)
                if answer is None:
                    self.unreadable += 1
                    scores.append(0.0)
                else:
                    scores.append(question.score(answer, real))
            out.append(scores)
        return out
