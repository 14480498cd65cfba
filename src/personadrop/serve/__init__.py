"""Using simulators: an OpenAI-compatible chat server, multi-turn simulation against an agent, and the
persona explorer page.

    served = Served({"sft": load_simulator("runs/sft")}, condition=Full())
    app = create_app(served)                  # FastAPI; `personadrop serve runs/sft` runs it with uvicorn
"""

from personadrop.serve.app import Served, create_app
from personadrop.serve.server import run, running

__all__ = ["Served", "create_app", "run", "running"]
