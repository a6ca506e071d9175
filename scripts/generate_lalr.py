"""Regenerate ``textproto_table.py``: the LALR(1) table Lark builds from ``textproto.lark``.

Run ``make proto`` (``python scripts/generate_lalr.py``) after editing the grammar. Lark computes the table
(its LALR analysis, its rule expansion of ``?``, ``*``, ``[]`` and aliases); this module
only writes it out as Python literals, so that importing the parser needs neither Lark
nor the table construction (tens of milliseconds at every start of the language server).
States are renumbered breadth-first from the start state, symbols in sorted order, so the
file does not depend on Lark's hash-seeded numbering.
``tests/grammar/test_parser_table.py`` fails when the committed table is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: the folder of the grammar and its table (this is a build-time script, not part of the package)
HERE = Path(__file__).resolve().parents[1] / "grammar" / "syntax"
TABLE_MODULE = "textproto_table.py"


def grammar_text() -> str:
    # read beside this file, not through the package: the package's parser refuses to import
    # while its committed table is stale, which is exactly when this runs
    return (HERE / "textproto.lark").read_text(encoding="utf-8")


def build_lark():  # type: ignore[no-untyped-def]
    """Lark's LALR parser for the grammar, configured as the table is (also the tests' oracle)."""
    from lark import Lark

    return Lark(grammar_text(), parser="lalr", lexer="basic", maybe_placeholders=True, cache=False)


def render() -> str:
    """The source of ``textproto_table.py`` for the current grammar."""
    lark = build_lark()
    table = lark.parser.parser.parser.parse_table
    rules = sorted(
        {arg for actions in table.states.values() for action, arg in actions.values() if action.name == "Reduce"},
        key=lambda r: (str(r.origin.name), [str(s.name) for s in r.expansion]),
    )
    rule_index = {rule: i for i, rule in enumerate(rules)}
    start = table.start_states["start"]
    order = [start]
    number = {start: 0}
    for state in order:  # breadth-first; `order` grows while it is read
        for symbol in sorted(table.states[state], key=str):
            action, arg = table.states[state][symbol]
            if action.name == "Shift" and arg not in number:
                number[arg] = len(order)
                order.append(arg)
    assert len(order) == len(table.states), "every LALR state is reachable from the start state"

    lines = [
        '"""The LALR(1) table of textproto.lark, as Lark builds it. GENERATED: do not edit.',
        "",
        "Regenerate with ``make proto`` (scripts/generate_lalr.py). STATES[s] maps a",
        "terminal to its action (n >= 0: shift to state n; n < 0: reduce by RULES[~n]) and a",
        "nonterminal to the state after it (goto).",
        '"""',
        "",
        "# fmt: off",
        "TERMINALS: dict[str, str] = {",
    ]
    for term in sorted(lark.terminals, key=lambda t: t.name):
        lines.append(f"    {term.name!r}: {term.pattern.to_regexp()!r},")
    lines.append("}")
    lines.append("")
    lines.append("# (origin, expansion, alias, inlined: `?rule` with one child, placeholders: `[]` left out)")
    lines.append("RULES: tuple[tuple[str, tuple[str, ...], str | None, bool, tuple[bool, ...]], ...] = (")
    for rule in rules:
        expansion = tuple(str(s.name) for s in rule.expansion)
        shape = (
            str(rule.origin.name),
            expansion,
            rule.alias and str(rule.alias),
            bool(rule.options.expand1),
            tuple(rule.options.empty_indices),
        )
        lines.append(f"    {shape!r},")
    lines.append(")")
    lines.append("")
    lines.append(f"START_STATE = {number[start]}")
    lines.append(f"END_STATE = {number[table.end_states['start']]}")
    lines.append("STATES: tuple[dict[str, int], ...] = (")
    for state in order:
        cells = []
        for symbol in sorted(table.states[state], key=str):
            action, arg = table.states[state][symbol]
            code = number[arg] if action.name == "Shift" else ~rule_index[arg]
            cells.append(f"{str(symbol)!r}: {code}")
        lines.append("    {" + ", ".join(cells) + "},")
    lines.append(")")
    lines.append("# fmt: on")
    return "\n".join(lines) + "\n"


def main() -> int:
    target = HERE / TABLE_MODULE
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target.relative_to(HERE.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
