"""``kvcal tune`` end to end on a tiny random Llama saved to a folder (seconds, not the
bundled model's minutes), its bad-input errors, and the progress bar."""

from __future__ import annotations

import importlib.util
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from kvcal.grammar import check, resolve
from kvcal.server.cli import main
from kvcal.server.commands._progress import ProgressBar

SENTENCE = (
    "the river carries sand and silt down to a wide delta where the water slows and "
    "spreads while the land grows out into the sea year after year"
)
WORDS = SENTENCE.split()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama (4 heads, 2 KV heads) with a word-level tokenizer, saved offline."""
    if importlib.util.find_spec("transformers") is None:
        message = "the tune CLI test needs transformers: pip install 'kvcal[model]'"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    import tokenizers
    import torch
    import transformers

    folder = tmp_path_factory.mktemp("tiny")
    vocab = {w: i for i, w in enumerate(["[UNK]", *dict.fromkeys(WORDS)])}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(folder)
    config = transformers.LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def texts(tmp_path: Path) -> list[str]:
    out = []
    for i in range(3):
        path = tmp_path / f"text{i}.txt"
        path.write_text(" ".join(WORDS[i:] + WORDS * 4), encoding="utf-8")  # ~110 words each
        out.append(str(path))
    return out


def test_tune_writes_a_config_that_passes_check(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, rep = tmp_path / "tuned.cfg", tmp_path / "report.json"
    args = ["tune", "--model", str(tiny_model), "--window", "16", "--windows", "3", "--threads", "1"]
    for t in texts(tmp_path):
        args += ["--text", t]
    assert main([*args, "--out", str(cfg), "--report", str(rep)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{cfg}: ") and "held-out perplexity text0 " in out
    assert err == ""  # not a terminal: no progress bar
    text = cfg.read_text()
    assert [p for p in check(text) if p.severity == "error"] == []
    layers = [f"model.layers.{i}.self_attn.{kv}_proj" for i in range(2) for kv in "kv"]
    assert sorted(p.layer_name for p in resolve(text)) == sorted(layers)
    assert "# Held-out perplexity change of the finalists" in text and "[CHOSEN]" in text
    report = json.loads(rep.read_text())
    assert [f["name"] for f in report["folds"]] == ["held out: text0", "held out: text1", "held out: text2"]
    assert report["windows"] == {"text0": 3, "text1": 3, "text2": 3}
    assert sum(f["chosen"] for f in report["finalists"]) == 1
    assert set(report["kinds"]) == {"k_proj", "v_proj"}

    assert main([*args, "--proxy-only", "--quiet"]) == 0  # to standard output
    out = capsys.readouterr().out
    assert out.startswith("# proto-file: quant_calibration_config_pytorch.proto\n# proto-message: ")
    assert "\n# kvcal tune: " in out and "--proxy-only" in out
    assert [p for p in check(out) if p.severity == "error"] == []


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--text", "missing.txt"], 1, "missing.txt: cannot read the text (No such file or directory)"),
        (["--text", "@legal"], 1, "@legal is kept for evaluation only"),
        (["--out", "."], 2, "--out .: is a directory; give a file name"),
        (["--out", "no/such/dir/x.cfg"], 2, "the folder no/such/dir does not exist"),
        (["--limit", "0"], 2, "0 is not a percentage between 0 and 100"),
        (["--window", "4"], 2, "4 is too small: it must be at least 8"),
    ],
)
def test_bad_input_is_one_clear_line(
    extra: list[str],
    code: int,
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        got = main(["tune", *extra])
    except SystemExit as exc:  # argparse's usage errors
        got = exc.code
    assert got == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_only_on_a_terminal() -> None:
    term, pipe = Terminal(), io.StringIO()
    for stream, quiet in ((term, False), (pipe, False), (Terminal(), True)):
        bar: Any = ProgressBar(stream, quiet=quiet)
        bar("calibrating", 1, 4)
        bar("calibrating", 4, 4)
    assert "[######------------------] 1/4 calibrating" in term.getvalue()
    assert term.getvalue().endswith("4/4 calibrating (0 s)\n")
    assert pipe.getvalue() == ""
