"""The committed LALR table is the one Lark builds from textproto.lark today."""

from __future__ import annotations

from tests.scripts import load

lalr = load("generate_lalr")


def test_lalr_table_is_not_stale() -> None:
    committed = (lalr.HERE / lalr.TABLE_MODULE).read_text(encoding="utf-8")
    assert lalr.render() == committed, "grammar/syntax/textproto_table.py is stale: run `make proto` and commit it"


def test_importing_the_grammar_does_not_build_a_parser() -> None:
    """The table is read from the committed module: no Lark at import (language server start)."""
    import subprocess
    import sys

    code = "import sys, kvcal.grammar; print('lark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
