"""The synthetic world generator: HUMANUAL-shaped files, HUMANUAL-like splits, determinism, sizes."""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from personadrop.cli import main
from personadrop.data.humanual import load_examples
from personadrop.data.world import (
    generate_world,
    generate_world_dir,
    load_world_config,
    load_world_config_from_dir,
    load_world_model,
    world_config,
    write_world,
)
from personadrop.data.world.config import ITEM_BOUNDS
from personadrop.data.world.lexicon import ITEM_INDEX
from personadrop.dropout import MaskKey, parse_condition
from personadrop.errors import ConfigError, DataError
from personadrop.persona import DEMOGRAPHIC_KEYS, FIELD_NAMES
from personadrop.prompts import simulator_messages

from world_support import WORLDS, default_world

SMALL = {"users": 40, "posts": 120}
FILES = ("train.jsonl", "val.jsonl", "test.jsonl", "traits.jsonl", "world.json")


def test_same_seed_writes_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate_world_dir(tmp_path / name, seed=seed, **SMALL)
    for f in FILES:
        assert filecmp.cmp(tmp_path / "a" / f, tmp_path / "b" / f, shallow=False), f
    assert not filecmp.cmp(tmp_path / "a" / "test.jsonl", tmp_path / "c" / "test.jsonl", shallow=False)


def test_files_do_not_depend_on_the_interpreter_hash_seed(tmp_path: Path) -> None:
    generate_world_dir(tmp_path / "here", seed=2, **SMALL)
    code = (
        f"from personadrop.data.world import generate_world_dir; "
        f"generate_world_dir({str(tmp_path / 'there')!r}, seed=2, users=40, posts=120)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    for f in FILES:
        assert filecmp.cmp(tmp_path / "here" / f, tmp_path / "there" / f, shallow=False), f


def test_the_humanual_loader_reads_a_world_unchanged(tmp_path: Path) -> None:
    record = generate_world_dir(tmp_path, seed=1, **SMALL)
    for split in ("train", "val", "test"):
        loaded = load_examples(tmp_path, split=split)
        assert len(loaded) == record["counts"]["rows"][split]
        assert not loaded.bad_rows
        for e in loaded.examples:
            assert e.states is not None and set(e.states) == {
                "stance",
                "emotion",
                "belief",
                "value",
                "goal",
                "communication",
            }
            assert e.context[0].speaker == "Poster" and not e.context[0].is_target
            assert e.unseen_user == (split != "train" and e.unseen_user)
    row = json.loads((tmp_path / "test.jsonl").read_text().splitlines()[0])
    persona = json.loads(row["persona"])
    assert list(persona) == list(FIELD_NAMES)
    assert list(persona["demographics"]) == list(DEMOGRAPHIC_KEYS)
    assert load_world_config_from_dir(tmp_path) == world_config(seed=1, **SMALL)
    assert load_world_model(tmp_path).config.seed == 1


def test_a_directory_without_world_json_is_not_a_world(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"world\.json"):
        load_world_model(tmp_path)


@pytest.mark.parametrize("world", list(WORLDS))
def test_splits_follow_time_with_unseen_posts_seen_users_and_held_out_users(world: str) -> None:
    w = WORLDS[world]()
    by_split = {s: w.split(s) for s in ("train", "val", "test")}
    last_train = max(e.timestamp for e in by_split["train"])
    first_test_post = min(p.timestamp for p in w.posts if p.split == "test")
    assert max(p.timestamp for p in w.posts if p.split == "train") < first_test_post
    assert last_train > 0
    train_posts = {e.post_id for e in by_split["train"]}
    train_users = {e.user_id for e in by_split["train"]}
    assert not train_posts & {e.post_id for e in by_split["test"]}
    for e in by_split["test"] + by_split["val"]:
        assert e.unseen_user == (e.user_id not in train_users)
    unseen_users = {u.user_id for u in w.users if u.unseen}
    assert not unseen_users & train_users
    assert len(unseen_users) == round(w.config.unseen_user_share * w.config.users)
    unseen_test = sum(e.unseen_user for e in by_split["test"])
    assert 0.1 < unseen_test / len(by_split["test"]) < 0.35


@pytest.mark.parametrize("world", list(WORLDS))
def test_personas_have_the_humanual_shape_and_only_world_items(world: str) -> None:
    w = WORLDS[world]()
    all_na = 0
    for user in w.users:
        p = user.persona
        assert list(p["demographics"]) == list(DEMOGRAPHIC_KEYS)
        all_na += all(v == "NA" for v in p["demographics"].values())
        for field, (lo, hi) in ITEM_BOUNDS.items():
            assert lo <= len(p[field]) <= hi, (field, p[field])
            for item in p[field]:
                assert item in ITEM_INDEX[field]
                assert 1 <= len(item.split()) <= 6
        for key, value in p["demographics"].items():
            assert value == "NA" or f"{key}: {value}" in ITEM_INDEX["demographics"]
    assert 0.05 < all_na / len(w.users) < 0.3  # about one persona in six knows no demographics


def test_default_world_size_and_text_lengths() -> None:
    w = default_world()
    test = w.split("test")
    assert 200 <= len(w.users) <= 500
    assert len({e.post_id for e in w.examples}) >= 1000
    assert len(test) >= 300
    answered = Counter(e.user_id for e in w.examples if not e.unseen_user)
    assert 8 <= sum(answered.values()) / len(answered) <= 12
    assert (
        0.2 < sum(len(e.context) > 1 for e in w.examples) / len(w.examples) < 0.4
    )  # threads with a parent comment
    assert all(40 <= len(p.text.split()) <= 90 for p in w.posts)
    assert len({p.text for p in w.posts}) == len(w.posts)
    assert all(10 <= len(e.response.split()) <= 70 for e in w.examples)
    full = parse_condition("full")
    for e in test[:100]:
        visible = full(e.persona, MaskKey(0, e.id))
        assert len(visible.render().split()) <= 150
        prompt = " ".join(m["content"] for m in simulator_messages(e, visible))
        assert len(prompt.split()) <= 260  # words; a word-level tokenizer stays near 300 tokens


def test_invalid_configs_fail_with_one_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="demographics"):
        world_config({"signal": {"demographics": {"verbosity": {"items": 1, "reliability": 0.5}}}})
    with pytest.raises(ConfigError, match="statistics would hold"):
        world_config({"signal": {"statistics": {"values": {"items": 8, "reliability": 0.5}}}})
    with pytest.raises(ConfigError, match="reliability"):
        world_config({"signal": {"values": {"values": {"items": 5, "reliability": 1.5}}}})
    with pytest.raises(ConfigError, match="split"):
        world_config({"split": [0.5, 0.5, 0.5]})
    bad = tmp_path / "bad.yaml"
    bad.write_text("users: [1, 2\n")
    with pytest.raises(ConfigError, match="YAML"):
        load_world_config(bad)


def test_cli_writes_a_world_from_a_config_file_and_prints_the_ceiling_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "world.yaml"
    cfg.write_text(
        "users: 60\nposts: 150\nsignal:\n  statistics:\n    leniency: {items: 2, reliability: 0.95}\n"
    )
    assert _run_cli(["world", "--out", str(tmp_path / "w"), "--seed", "4", "--config", str(cfg)]) == 0
    printed = capsys.readouterr().out
    for condition in ("full", "none", "only:values", "only:statistics", "items:0.9"):
        assert condition in printed
    written = load_world_config_from_dir(tmp_path / "w")
    assert (written.seed, written.users, written.cell("statistics", "leniency").reliability) == (4, 60, 0.95)
    assert _run_cli(["world", "--out", str(tmp_path / "x"), "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err


def _run_cli(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def test_write_world_refuses_a_file_as_directory(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(DataError):
        write_world(generate_world(world_config(seed=0, **SMALL)), target)


def test_options_merge_into_a_config_file_leaf_by_leaf(tmp_path: Path) -> None:
    from world_support import ALT_CONFIG

    record = generate_world_dir(
        tmp_path,
        config=ALT_CONFIG,
        users=30,
        posts=80,
        signal={"values": {"leniency": {"items": 2, "reliability": 0.9}}},
    )
    written = load_world_config_from_dir(tmp_path)
    assert record["seed"] == 7 == written.seed
    assert written.cell("values", "leniency").items == 2
    assert written.cell("demographics", "tone").items == 0  # the file's cells survive the override
    assert written.cell("communication", "worldview").items == 1
