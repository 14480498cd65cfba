"""Bounds on the sizes a user can pass, in one place.

Each is checked where its value enters (a command-line option, a config file, a request to the server),
before any work starts, and the error names the setting. They are far above anything a study needs and
low enough that no single value can exhaust memory or run for days.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

#: Seeds are in [0, 2**32): numpy's seeding, which transformers calls, refuses anything else, and a seed
#: refused after minutes of data preparation is worse than one refused where it is typed.
SEED_LIMIT = 2**32
Seed = Annotated[int, Field(ge=0, lt=SEED_LIMIT)]

#: Tokens one reply (or states and reply) may be asked for. A static cache is allocated for the whole
#: budget at once, so this bounds the memory one request can claim.
MAX_NEW_TOKENS = 4096
#: How long a served request may wait for others to join its batch.
MAX_BATCH_WINDOW_MS = 1000.0
#: Epochs of a training stage, a pretraining run or an export (an export writes every epoch's rows).
MAX_EPOCHS = 1000
#: Rows one export may write (they are built in memory before the parquet file is written).
MAX_EXPORT_ROWS = 5_000_000
#: Random worlds one pretraining run draws, and the size of one synthetic world.
MAX_WORLDS = 1000
MAX_WORLD_USERS = 100_000
MAX_WORLD_POSTS = 1_000_000
#: A tokenizer's vocabulary (the largest real tokenizers have about 256k entries).
MAX_VOCAB_SIZE = 262_144
#: Bytes in one line of a JSON-lines file (a data row, a stored result, a conversation turn); a longer
#: line is refused without being held in memory whole.
MAX_LINE_BYTES = 64 * 1024 * 1024
#: Characters of one conversation turn that ``simulate`` stores; a longer turn is cut to this.
MAX_TURN_CHARS = 20_000
#: Temperatures below this are greedy decoding: dividing logits by less overflows to NaN probabilities.
MIN_TEMPERATURE = 0.01
