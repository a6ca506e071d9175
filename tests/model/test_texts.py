"""The built-in texts: real text from installed packages, calibration and evaluation parts
that are different documents, and clear errors for a wrong name or file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from kvcal.calibrate.model.loader import ModelError
from kvcal.calibrate.model.texts import (
    BUILTIN,
    CALIBRATION_DEFAULT,
    EVALUATION_DEFAULT,
    HELD_OUT,
    load_text,
)

needs_transformers = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None, reason="the 'legal' text is transformers' licence"
)


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if len(line.strip()) >= 60]


@needs_transformers
@pytest.mark.parametrize("name", EVALUATION_DEFAULT)
def test_each_builtin_text_is_long_and_its_parts_do_not_overlap(name: str) -> None:
    ev = load_text(f"@{name}", "evaluation")
    assert ev.name == name and ev.source.startswith(f"@{name} (")
    assert len(ev.text.split()) >= 1200  # >= 1,536 SmolLM2 tokens
    if name in HELD_OUT:
        return
    cal = load_text(f"@{name}", "calibration")
    assert len(cal.text.split()) >= 800
    seen = set(lines(cal.text))
    again = [line for line in lines(ev.text) if line in seen]
    # different documents; API docs repeat a few stock parameter descriptions ("casting : ...")
    assert len(again) <= 0.08 * len(lines(ev.text)), again


def test_the_held_out_domain_is_no_calibration_default() -> None:
    assert set(HELD_OUT) <= set(EVALUATION_DEFAULT) and not set(HELD_OUT) & set(CALIBRATION_DEFAULT)
    assert set(EVALUATION_DEFAULT) == set(BUILTIN)
    with pytest.raises(ModelError, match="@legal is kept for evaluation only"):
        load_text("@legal", "calibration")


def test_the_texts_are_what_they_say() -> None:
    import lark
    import numpy

    code = load_text("@code", "calibration").text
    assert code == (Path(lark.__file__).parent / "lark.py").read_text(encoding="utf-8")
    docs = load_text("@docs", "evaluation").text
    assert "Parameters\n----------" in docs and numpy.__name__ in docs


def test_bad_names_and_files_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"@poetry: no such built-in text; the built-in texts are @prose, @docs"):
        load_text("@poetry", "evaluation")
    with pytest.raises(ModelError, match=r"missing.txt: cannot read the text \(No such file or directory\)"):
        load_text(tmp_path / "missing.txt", "evaluation")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ModelError, match="give a UTF-8 text file"):
        load_text(tmp_path / "bin.txt", "calibration")
    (tmp_path / "mine.txt").write_text("my own words", encoding="utf-8")
    mine = load_text(tmp_path / "mine.txt", "calibration")
    assert (mine.name, mine.text) == ("mine", "my own words")
