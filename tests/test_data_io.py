"""HUMANUAL data in and out: rows -> Example -> prompt messages -> TRL / verl rows, and bad rows named."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from personadrop.data.example import TARGET_SPEAKER
from personadrop.data.humanual import load_examples, write_jsonl
from personadrop.data.rows import example_to_row
from personadrop.dropout import FieldDropout, MaskKey, parse_condition
from personadrop.errors import DataError
from personadrop.prompts import messages_to_text, parse_output, parse_tag, simulator_messages, target_text
from personadrop.train.export import trl_rows, verl_rows, write_parquet

from conftest import humanual_persona, humanual_row


def write_rows(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_real_posts_round_trip_to_trl_and_verl_rows(tmp_path, aita_posts):
    rows = []
    for i, (post_id, post) in enumerate(aita_posts.items()):
        messages = [{"role": post["poster_name"], "content": post["post"], "metadata": {}}]
        if i % 3 == 0:  # some threads carry the user's own earlier comment
            messages.append({"role": "assistant", "content": "Wait, did you ask her first?", "metadata": {}})
            messages.append(
                {"role": "user", "content": "I did, twice.", "metadata": {"author": post["poster_name"]}}
            )
        rows.append(humanual_row(i, post_id=post_id, prompt=messages if i % 2 else json.dumps(messages)))
    loaded = load_examples(write_rows(tmp_path / "test.jsonl", rows))
    assert len(loaded) == 79 and not loaded.bad_rows
    assert {e.split for e in loaded.examples} == {"test"}

    first = loaded.examples[0]
    assert first.context[0].content == next(iter(aita_posts.values()))["post"].strip()
    assert first.context[0].speaker == next(iter(aita_posts.values()))["poster_name"]
    assert [t.speaker for t in first.context[1:]] == [TARGET_SPEAKER, first.context[0].speaker]

    # Example -> HUMANUAL row -> Example is lossless.
    again = load_examples(write_rows(tmp_path / "again.jsonl", [example_to_row(e) for e in loaded.examples]))
    assert [e.model_dump(exclude={"split"}) for e in again.examples] == [
        e.model_dump(exclude={"split"}) for e in loaded.examples
    ]

    policy = parse_condition("only:values")
    messages = simulator_messages(first, policy(first.persona, MaskKey(0, first.id)))
    assert messages[0]["role"] == "system" and "honesty above all" in messages[0]["content"]
    assert "gardening" not in messages[0]["content"] and "Interests: Missing" in messages[0]["content"]
    assert [m["role"] for m in messages[1:]] == ["user", "assistant", "user"]
    assert messages[1]["content"].startswith(first.context[0].speaker + ": ")

    conv = trl_rows(loaded.examples, FieldDropout(0.6), seed=1, epoch=0)
    assert conv[0]["completion"] == [{"role": "assistant", "content": first.response}]
    assert conv[0]["prompt"][0]["role"] == "system"
    plain = trl_rows(loaded.examples[:3], FieldDropout(0.6), seed=1, conversational=False)
    assert (
        plain[0]["prompt"].endswith(f"{TARGET_SPEAKER}:") and plain[0]["completion"] == " " + first.response
    )
    # The visibility record matches the prompt that was rendered.
    for row in conv[:20]:
        visible = json.loads(row["visible"])
        for field in ("values", "interests"):
            assert (field in visible["fields"]) == (
                f"{field.capitalize()}: Missing" not in row["prompt"][0]["content"]
            )

    verl = verl_rows(loaded.examples, parse_condition("full"), seed=0)
    path = write_parquet(verl, tmp_path / "verl.parquet")
    table = pq.read_table(path).to_pylist()
    assert len(table) == 79
    assert set(table[0]) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    assert table[0]["reward_model"]["ground_truth"] == first.response
    assert table[0]["extra_info"]["example_id"] == first.id


def test_masks_in_exports_are_per_epoch(tmp_path):
    loaded = load_examples(write_rows(tmp_path / "train.jsonl", [humanual_row(i) for i in range(40)]))
    epoch0 = trl_rows(loaded.examples, FieldDropout(0.6), seed=5, epoch=0)
    again = trl_rows(loaded.examples, FieldDropout(0.6), seed=5, epoch=0)
    epoch1 = trl_rows(loaded.examples, FieldDropout(0.6), seed=5, epoch=1)
    assert [r["prompt"] for r in epoch0] == [r["prompt"] for r in again]
    assert sum(a["visible"] != b["visible"] for a, b in zip(epoch0, epoch1, strict=True)) > 20


def test_directory_of_splits_and_parquet(tmp_path):
    write_rows(tmp_path / "train.jsonl", [humanual_row(i) for i in range(6)])
    rows = [humanual_row(i, prompt=json.loads(humanual_row(i)["prompt"])) for i in range(6, 9)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "validation.parquet")
    write_rows(tmp_path / "test.jsonl", [humanual_row(9, unseen_user=True, states={"stance": "agrees"})])
    everything = load_examples(tmp_path)
    assert [e.split for e in everything.examples] == ["train"] * 6 + ["val"] * 3 + ["test"]
    test = load_examples(tmp_path, split="test").examples
    assert test[0].unseen_user and test[0].states == {"stance": "agrees"}
    assert len(load_examples(tmp_path, split="validation")) == 3
    with pytest.raises(DataError, match="unknown split"):
        load_examples(tmp_path, split="holdout")


def test_duplicate_ids_are_made_unique_and_stable_and_repeated_rows_dropped(tmp_path):
    rows = [humanual_row(1), humanual_row(1, completion="another reply"), humanual_row(1)]
    loaded = load_examples(write_rows(tmp_path / "d.jsonl", rows))
    assert [e.id for e in loaded.examples] == ["p1/user1/2", "p1/user1/2#2"]
    assert loaded.repeated_rows == 1 and loaded.renamed_ids == ["p1/user1/2#2"]


def test_text_personas_and_unknown_roles(tmp_path):
    row = humanual_row(0, persona="This user has no history.")
    row["prompt"] = [
        {"role": "system", "content": "ignored"},
        {"role": "user", "content": "Hi"},
        {"role": "user1", "content": "my own earlier comment"},
        {"role": "user", "content": "reply"},
    ]
    row["user_id"] = "user1"
    ex = load_examples(write_rows(tmp_path / "t.jsonl", [row])).examples[0]
    assert ex.persona.is_text
    assert [t.speaker for t in ex.context] == ["Poster", TARGET_SPEAKER, "Commenter"]


# --------------------------------------------------------------------------- bad rows
BAD_ROWS = [
    ({"prompt": None}, "missing column 'prompt'"),
    ({"prompt": "not json ["}, "not JSON"),
    ({"prompt": json.dumps({"role": "user"})}, "'prompt': Input should be a valid list"),
    ({"prompt": []}, "no non-empty message"),
    ({"prompt": [{"role": "user", "content": "   "}]}, "no non-empty message"),
    ({"prompt": ["just a string"]}, "'prompt' message 0: Input should be a valid dictionary"),
    ({"prompt": [{"role": "user", "content": 5}]}, "'prompt' message 0 'content'"),
    ({"prompt": [{"role": 3, "content": "x"}]}, "'prompt' message 0 'role'"),
    (
        {"prompt": [{"role": "user", "content": "x", "metadata": "{oops"}]},
        "'metadata': is a string but not JSON",
    ),
    ({"completion": ""}, "'completion'"),
    ({"completion": None}, "'completion'"),
    ({"completion": ["a", "b"]}, "'completion'"),
    ({"user_id": None}, "missing column 'user_id'"),
    ({"user_id": 3.5}, "'user_id': must be text or an integer"),
    ({"user_id": True}, "'user_id': must be text or an integer"),
    ({"post_id": ["p"]}, "'post_id': must be text or an integer"),
    ({"timestamp": "yesterday"}, "'timestamp': must be an integer"),
    ({"timestamp": 1.5}, "'timestamp': must be an integer"),
    ({"turn_id": "2"}, "'turn_id': Input should be a valid integer"),
    ({"metadata": "[1, 2]"}, "'metadata': must be an object"),
    ({"states": {"stance": 3}}, "'states' 'stance': Input should be a valid string"),
    ({"unseen_user": "yes"}, "'unseen_user': Input should be a valid boolean"),
    ({"persona": None}, "missing (None)"),
    ({"persona": '{"values": "x"}'}, "field 'values'"),
    ({"persona": '{"values": [}'}, "looks like JSON"),
    ({"persona": json.dumps(humanual_persona(interests=[1]))}, "field 'interests'"),
    ({"persona": 12}, "got int"),
]


@pytest.mark.parametrize(("change", "needle"), BAD_ROWS, ids=[f"row{i}" for i in range(len(BAD_ROWS))])
def test_bad_row_stops_the_load_naming_row_and_reason(tmp_path, change, needle):
    rows = [humanual_row(0), humanual_row(1, **change), humanual_row(2)]
    path = write_rows(tmp_path / "train.jsonl", rows)
    with pytest.raises(DataError) as info:
        load_examples(path)
    message = str(info.value)
    assert "train.jsonl:2" in message and needle in message and "\n" not in message
    skipped = load_examples(path, on_bad_row="skip")
    assert [e.post_id for e in skipped.examples] == ["p0", "p2"]
    assert len(skipped.bad_rows) == 1 and needle in skipped.bad_rows[0].reason


def test_unparsable_lines_and_non_objects_are_bad_rows(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(humanual_row(0)) + "\n{broken\n[1,2]\n\n" + json.dumps(humanual_row(1)) + "\n")
    loaded = load_examples(path, on_bad_row="skip")
    assert len(loaded) == 2
    assert [b.where for b in loaded.bad_rows] == ["x.jsonl:2", "x.jsonl:3"]
    assert "not valid JSON" in loaded.bad_rows[0].reason and "must be an object" in loaded.bad_rows[1].reason


def test_file_level_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_examples(tmp_path / "missing.jsonl")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"a": "caf\xe9"}\n')
    with pytest.raises(DataError, match="not UTF-8"):
        load_examples(tmp_path / "latin1.jsonl")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="parquet"):
        load_examples(tmp_path / "bad.parquet")
    (tmp_path / "obj.json").write_text('{"a": 1}')
    with pytest.raises(DataError, match="JSON list"):
        load_examples(tmp_path / "obj.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no data files"):
        load_examples(empty)


def test_write_jsonl_is_byte_stable(tmp_path):
    rows = [humanual_row(i) for i in range(5)]
    write_jsonl(rows, tmp_path / "a.jsonl")
    write_jsonl([dict(reversed(r.items())) for r in rows], tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


# --------------------------------------------------------------------------- prompts
def test_task_targets_and_tag_parsing(tmp_path):
    states = {d: f"{d} text" for d in ("stance", "emotion", "belief", "value", "goal", "communication")}
    ex = load_examples(write_rows(tmp_path / "s.jsonl", [humanual_row(0, states=states)])).examples[0]
    full = target_text(ex, "states+response")
    assert parse_output(full, "states+response") == ex.response
    assert parse_tag(full, "belief") == "belief text"
    assert parse_output(target_text(ex, "goal"), "goal") == "goal text"
    assert parse_output("no tags here", "goal") is None
    assert parse_output("<stance>x</stance> NTA, obviously.", "response") == "NTA, obviously."
    assert parse_output("<response>  </response>", "states+response") is None
    text = messages_to_text(
        simulator_messages(ex, parse_condition("none")(ex.persona, MaskKey(0, ex.id)), "stance")
    )
    assert "<stance></stance>" in text and text.endswith(f"{TARGET_SPEAKER}:")
