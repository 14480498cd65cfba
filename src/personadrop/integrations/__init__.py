"""Hooks for other training frameworks (verl)."""
