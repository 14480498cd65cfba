"""The main job, ``personadrop study``: a config in, trained and evaluated variants and a report out.

    cfg = load_study_config("configs/demo.yaml", profile="quick")
    summary = Study(cfg, "runs/demo-quick").run()

Modules: ``config`` (the YAML schema and profiles), ``layout`` (the paths of a study directory),
``data`` (where examples come from, decided once),
``scheduler`` (training runs in worker processes), ``plan`` (``--dry-run``), ``runner`` (the stages).
"""

from personadrop.study.config import StudyConfig, dump_config, load_study_config
from personadrop.study.layout import StudyLayout
from personadrop.study.plan import StudyPlan
from personadrop.study.runner import Study

__all__ = ["Study", "StudyConfig", "StudyLayout", "StudyPlan", "dump_config", "load_study_config"]
