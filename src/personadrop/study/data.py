"""Where a study's examples come from, decided once: a synthetic world it generates, or files it is given."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from personadrop.study.config import StudyConfig, WorldSpec


@dataclass(frozen=True)
class DataSource:
    """The study's data: ``location`` is what training and evaluation read (a directory, file or hub id).

    ``world`` is set when the study generates a synthetic world into ``location`` (the embedded default).
    """

    location: str
    world: WorldSpec | None
    seed: int

    @classmethod
    def of(cls, cfg: StudyConfig, world_dir: Path) -> DataSource:
        """The config's data; a synthetic world is generated into ``world_dir``."""
        if cfg.data.world is not None:
            return cls(str(world_dir), cfg.data.world, cfg.seed)
        return cls(str(cfg.data.path), None, cfg.seed)

    @property
    def is_world(self) -> bool:
        return self.world is not None

    @property
    def ready(self) -> bool:
        """Whether the data can be read now (a world is generated; a local path exists)."""
        if self.world is not None:
            return (Path(self.location) / "world.json").exists()
        return Path(self.location).exists()

    def describe(self) -> str:
        return f"synthetic world -> {self.location}" if self.world is not None else self.location

    def prepare(self) -> str:
        """Generate the world if this source is one and it is not written yet; returns ``location``."""
        if self.world is not None and not self.ready:
            from personadrop.data.world import generate_world_dir

            spec = self.world
            generate_world_dir(
                self.location,
                seed=self.seed if spec.seed is None else spec.seed,
                users=spec.users,
                posts=spec.posts,
                config=spec.config,
                **spec.options,
            )
        return self.location
