"""Judges: score generated responses against real ones (exact world judge, embeddings, LLMs)."""

from personadrop.judges.base import DIMENSIONS, Judge, JudgeRequest, JudgeUsage

__all__ = ["DIMENSIONS", "Judge", "JudgeRequest", "JudgeUsage"]
