"""Training configuration: defaults <- profile <- config file <- options, with clear errors."""

from __future__ import annotations

import pytest

from personadrop.dropout import FieldDropout
from personadrop.errors import ConditionError, ConfigError
from personadrop.train.config import PROFILES, TrainConfig, resolve_config
from personadrop.train.methods import get_method


def test_layers_apply_in_order_and_unset_options_are_ignored(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("train:\n  seed: 4\n  sft: {lr: 0.001}\n  grpo: {num_generations: 8}\n")
    cfg = resolve_config("grpo", profile="quick", config=path, seed=9, judge=None)
    assert cfg.method == "grpo" and cfg.profile == "quick"
    assert cfg.seed == 9  # the option beats the file
    assert cfg.sft.lr == 0.001 and cfg.sft.max_steps == PROFILES["quick"]["sft"]["max_steps"]
    assert cfg.grpo.num_generations == 8 and cfg.judge == "exact"
    assert resolve_config("grpo", profile="quick", config=cfg) == cfg  # a resolved config resolves to itself


def test_asking_for_epochs_lifts_the_profiles_step_cap():
    assert resolve_config("grpo").grpo.max_steps == 20
    assert resolve_config("grpo", config={"grpo": {"epochs": 1}}).grpo.max_steps is None
    assert resolve_config("grpo", config={"grpo": {"epochs": 1, "max_steps": 7}}).grpo.max_steps == 7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "sft", "profile": "huge"}, "unknown profile"),
        ({"method": "sft", "field_dropout": 1.5}, "field_dropout"),
        ({"method": "sft", "config": {"sft": {"batch_size": 0}}}, "sft.batch_size"),
        ({"method": "sft", "config": {"model": {"lora": {}}}}, "model.lora needs model.path"),
        ({"method": "sft", "config": {"grpo": {"num_gens": 4}}}, "grpo.num_gens"),
    ],
)
def test_invalid_settings_name_the_setting(kwargs, message):
    method = kwargs.pop("method")
    with pytest.raises(ConfigError, match=message):
        resolve_config(method, **kwargs)


def test_an_unknown_method_is_named_with_the_registered_ones():
    with pytest.raises(ConfigError, match="unknown method 'dpo'; methods are sft, grpo, humanlm"):
        get_method("dpo")


def test_config_round_trips_through_json():
    cfg = resolve_config("humanlm", profile="default", field_dropout=0.6)
    assert TrainConfig(**cfg.model_dump(mode="json")) == cfg


def test_training_dropout_is_written_as_a_condition():
    assert resolve_config("sft", field_dropout=0.6).train_condition == FieldDropout(0.6)
    cfg = resolve_config("sft", train_condition="only:values,items:0.5")
    assert cfg.train_condition.name == "only:values,items:0.5"
    assert cfg.model_dump(mode="json")["train_condition"] == "only:values,items:0.5"
    assert resolve_config("sft").train_condition.is_full
    assert resolve_config("sft", field_dropout=0).train_condition.is_full
    with pytest.raises(ConditionError, match="unknown field"):
        resolve_config("sft", train_condition="only:Hob!bies")  # no field is written so


def test_a_train_condition_naming_a_field_the_data_lacks_fails_before_training():
    """Field names are checked against the data (a survey's personas have fields of their own)."""
    from personadrop.data.rows import example_from_row
    from personadrop.train.variant import load_train_examples

    from conftest import humanual_row

    examples = [example_from_row(humanual_row(i), split="train") for i in range(3)]
    assert load_train_examples(examples, resolve_config("sft", train_condition="only:values"))[0]
    with pytest.raises(ConditionError, match="names field 'hobbies', which <in-memory> does not have"):
        load_train_examples(examples, resolve_config("sft", train_condition="only:hobbies"))
