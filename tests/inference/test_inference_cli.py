"""`memlens infer-attributes` through the real entry point: profiles, the attack, the page, bad input."""

import json

import pandas as pd

from cli_assertions import one_paragraph


def test_make_profiles_then_infer(tmp_path, run_cli):
    profiles = tmp_path / "profiles.jsonl"
    code, stdout, err = run_cli("infer-attributes", "--make-profiles", "60", "--seed", "2", "--out", profiles)
    assert code == 0, err
    lines = profiles.read_text().splitlines()
    assert len(lines) == 60 and {"comments", "attributes", "hardness", "cues"} <= set(json.loads(lines[0]))
    out = tmp_path / "run"
    code, stdout, err = run_cli("infer-attributes", "--texts", profiles, "--adversary", "tfidf", "--attributes",
                                "location,married", "--anonymize", "gazetteer", "--out", out)
    assert code == 0, err
    assert "after anonymization" in stdout
    frame = pd.read_parquet(out / "predictions.parquet")
    assert len(frame) == 60 * 2 * 2 and set(frame["text"]) == {"original", "anonymized"}
    assert {"profile", "attribute", "truth", "guess", "correct", "correct_top3", "hardness"} <= set(frame.columns)
    summary = json.loads((out / "inference.json").read_text())
    location = summary["texts"]["original"]["attributes"]["location"]
    assert location["top1"]["n"] == 60 and location["top1"]["correct"] == int(
        frame[(frame.text == "original") & (frame.attribute == "location")]["correct"].sum())
    assert location["top1"]["low"] <= location["top1"]["rate"] <= location["top1"]["high"]
    assert set(summary["change"]) == {"location", "married", "overall"} and summary["training"].startswith("5-fold")
    page = (out / "report.html").read_text()
    assert "Accuracy by attribute and hardness" in page and "1 explicit" in page and "top-1 anonymized" in page


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = json.dumps({"id": "a", "comments": ["I live in Lyon"], "attributes": {"location": "Lyon", "age": 30}})


def test_bad_profile_lines_are_named_and_nothing_is_written(tmp_path, run_cli):
    out = tmp_path / "run"
    cases = [
        ([GOOD, "{not json"], ["line 2 is not JSON"]),
        ([GOOD, "[1, 2]"], ["line 2 is a JSON list, not an object"]),
        ([GOOD, json.dumps({"id": "b", "comments": ["x"], "attributes": {"location": "Paris"}})],
         ["line 2 \\(profile b\\) lacks the attribute age"]),
        ([GOOD, json.dumps({"id": "c", "attributes": {"location": "Paris", "age": 3}})],
         ["line 2 \\(profile c\\) has neither 'comments'"]),
    ]
    for lines, needles in cases:
        code, _, err = run_cli("infer-attributes", "--texts", _write(tmp_path / "p.jsonl", lines),
                               "--adversary", "tfidf", "--out", out)
        assert code == 2
        one_paragraph(err, *needles, "Nothing was written")
        assert not out.exists()
    code, _, err = run_cli("infer-attributes", "--texts", _write(tmp_path / "p.jsonl", [GOOD]), "--adversary", "tfidf",
                           "--attributes", "location,income", "--out", out)
    one_paragraph(err, "line 1 \\(profile a\\) lacks the attribute income")
    code, _, err = run_cli("infer-attributes", "--texts", tmp_path / "p.jsonl", "--adversary", "gpt", "--out", out)
    one_paragraph(err, "--adversary takes tfidf or hf:PATH")
    assert not out.exists()


def test_a_non_causal_checkpoint_is_refused_before_anything_is_written(tmp_path, run_cli, capsys):
    from transformers import BertConfig, BertForMaskedLM

    BertForMaskedLM(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=16)).save_pretrained(tmp_path / "bert")
    capsys.readouterr()  # transformers' save progress bar is not the command's output
    out = tmp_path / "run"
    code, _, err = run_cli("infer-attributes", "--texts", _write(tmp_path / "p.jsonl", [GOOD]),
                           "--adversary", f"hf:{tmp_path / 'bert'}", "--out", out)
    assert code == 2
    one_paragraph(err, "BertForMaskedLM model, not a causal language model")
    assert not out.exists()


def test_hf_adversary_through_the_command_line(tmp_path, run_cli, capsys):
    from memlens.inference.profiles import make_profiles
    from memlens.lm.corpus import train_tokenizer
    from memlens.lm.model import save_causal_lm, tiny_gpt2

    profiles = make_profiles(3, seed=4)
    texts = _write(tmp_path / "p.jsonl", [json.dumps(p) for p in profiles])
    tokenizer = train_tokenizer(["\n".join(p["comments"]) for p in profiles], vocab_size=300)
    model = save_causal_lm(tiny_gpt2(len(tokenizer), n_layer=1, n_embd=16, n_head=2, n_positions=1024), tokenizer,
                           tmp_path / "lm")
    capsys.readouterr()
    out = tmp_path / "run"
    code, stdout, err = run_cli("infer-attributes", "--texts", texts, "--adversary", f"hf:{model}", "--attributes",
                                "location,age", "--max-new-tokens", "4", "--anonymize", "stars", "--out", out)
    assert code == 0, err
    summary = json.loads((out / "inference.json").read_text())
    assert summary["adversary"] == f"hf:{model}" and summary["training"] == "none (a prompted model)"
    assert len(pd.read_parquet(out / "predictions.parquet")) == 3 * 2 * 2
    code, _, err = run_cli("infer-attributes", "--texts", texts, "--adversary", f"hf:{model}", "--train", texts,
                           "--out", tmp_path / "run2")
    one_paragraph(err, "--train trains the tfidf adversary")
