"""The method registry: a new method is one registry entry plus its stage function, and every command
that takes a method takes it."""

from __future__ import annotations

import pytest

from personadrop.dropout import FieldDropout, Full, MaskKey
from personadrop.models.base import SimulationItem
from personadrop.simulators import describe_simulator, load_simulator
from personadrop.train import METHODS, Method, get_method, register, train_variant
from personadrop.train.methods import Stage

from trainkit import make_examples


def keep_the_base(ctx, model):
    """A toy stage: the starting model as it is (no learning), and its line in run.json."""
    model = ctx.fresh_model() if model is None else model
    ctx.run.update_record(stages={"keep": {"steps": 0, "rows": len(ctx.examples), "seconds": 0.0}})
    return model


@pytest.fixture
def toy():
    method = register(
        Method("toy", "the starting model, untrained", "response", (Stage("keep", keep_the_base),))
    )
    yield method
    del METHODS["toy"]


def test_a_new_method_is_one_registry_entry_plus_its_stage_function(toy, tmp_path):
    examples = make_examples(n_users=4, n_posts=6, per_user=3)
    run = train_variant("toy", examples, tmp_path / "run", profile="quick", field_dropout=0.6)
    record = run.record
    assert run.done and record.method == "toy" and record.inference_task == "response"
    assert record.variant == "toy+fd" and record.train_condition == FieldDropout(0.6)  # named like any method
    assert list(record.stages) == ["keep"]
    name, described = describe_simulator(run.path)
    assert name == "toy+fd/seed-0" and described.method == "toy"
    simulator = load_simulator(run.path, max_new_tokens=4)
    items = [SimulationItem(e, Full()(e.persona, MaskKey(0, e.id))) for e in examples[:3]]
    assert len(simulator.generate(items)) == 3


def test_the_train_command_checks_its_method_against_the_registry(toy, tmp_path, capsys):
    from personadrop.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["train", "--method", "dpo", "--data", str(tmp_path), "--out", str(tmp_path / "r")])
    assert exit_.value.code == 2
    assert "'dpo' is not a method; methods are sft, grpo, humanlm, toy" in capsys.readouterr().err


def test_methods_declare_what_they_write_and_whether_they_need_a_judge():
    assert not get_method("sft").uses_reward and get_method("grpo").uses_reward
    assert get_method("humanlm").writes_states and not get_method("grpo").writes_states
    assert [s.name for s in get_method("humanlm").stages] == ["sft", "grpo"]
    assert get_method("grpo").warm_start_from == "sft"
    with pytest.raises(ValueError, match="registered already"):
        register(get_method("sft"))
