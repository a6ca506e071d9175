"""Converters from grammar values (offsets, problems, symbols) to LSP types: ``lsp_*``.

Every offset <-> position conversion goes through :class:`LineIndex` (UTF-16 columns).
"""

from __future__ import annotations

from collections.abc import Iterable

from lsprotocol import types

from kvcal.grammar.navigation import Fold, Symbol, Token
from kvcal.grammar.problems import Problem
from kvcal.grammar.text import LineIndex

SOURCE = "kvcal"

_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}
_TAGS = {"unnecessary": types.DiagnosticTag.Unnecessary, "deprecated": types.DiagnosticTag.Deprecated}
_SYMBOL_KIND = {"message": types.SymbolKind.Struct, "field": types.SymbolKind.Property, "layer": types.SymbolKind.Key}

#: Semantic token legend: navigation's token kinds -> LSP token types (standard names).
TOKEN_TYPES: tuple[str, ...] = ("property", "struct", "enumMember", "keyword", "number", "string", "comment")
TOKEN_MODIFIERS: tuple[str, ...] = ("declaration",)
_TOKEN_TYPE = {
    "field": 0,
    "message": 1,
    "enum": 2,
    "bool": 3,
    "number": 4,
    "string": 5,
    "layer": 5,
    "comment": 6,
}


def lsp_position(index: LineIndex, offset: int) -> types.Position:
    line, character = index.utf16_position(offset)
    return types.Position(line=line, character=character)


def lsp_range(index: LineIndex, start: int, end: int) -> types.Range:
    return types.Range(start=lsp_position(index, start), end=lsp_position(index, max(start, end)))


def offset_at(index: LineIndex, position: types.Position) -> int:
    return index.offset_from_utf16(position.line, position.character)


def offsets_of(index: LineIndex, rng: types.Range) -> tuple[int, int]:
    return offset_at(index, rng.start), offset_at(index, rng.end)


def lsp_location(uri: str, index: LineIndex, start: int, end: int) -> types.Location:
    return types.Location(uri=uri, range=lsp_range(index, start, end))


def lsp_severity(severity: str) -> types.DiagnosticSeverity:
    return _SEVERITY.get(severity, types.DiagnosticSeverity.Error)


def lsp_diagnostic(uri: str, index: LineIndex, problem: Problem) -> types.Diagnostic:
    related = [
        types.DiagnosticRelatedInformation(location=lsp_location(uri, index, r.start, r.end), message=r.message)
        for r in problem.related
    ]
    return types.Diagnostic(
        range=lsp_range(index, problem.start, problem.end),
        message=problem.message,
        severity=lsp_severity(problem.severity),
        code=problem.code,
        source=SOURCE,
        related_information=related or None,
        tags=[_TAGS[t] for t in problem.tags if t in _TAGS] or None,
    )


def lsp_diagnostics(uri: str, index: LineIndex, problems: Iterable[Problem]) -> list[types.Diagnostic]:
    return [lsp_diagnostic(uri, index, p) for p in problems]


def lsp_text_edit(index: LineIndex, start: int, end: int, new_text: str) -> types.TextEdit:
    return types.TextEdit(range=lsp_range(index, start, end), new_text=new_text)


def lsp_symbol(index: LineIndex, symbol: Symbol) -> types.DocumentSymbol:
    return types.DocumentSymbol(
        name=symbol.name or "''",
        detail=symbol.detail or None,
        kind=_SYMBOL_KIND[symbol.kind],
        range=lsp_range(index, symbol.start, symbol.end),
        selection_range=lsp_range(index, symbol.selection_start, symbol.selection_end),
        children=[lsp_symbol(index, c) for c in symbol.children] or None,
    )


def lsp_folding_range(index: LineIndex, fold: Fold) -> types.FoldingRange | None:
    """A bracketed block folds up to the line before its closing bracket."""
    start_line = index.position(fold.start)[0]
    end_line = index.position(fold.end)[0]
    if fold.kind == "region":
        end_line -= 1
    if end_line <= start_line:
        return None
    kind = types.FoldingRangeKind.Comment if fold.kind == "comment" else types.FoldingRangeKind.Region
    return types.FoldingRange(start_line=start_line, end_line=end_line, kind=kind)


def lsp_semantic_tokens(index: LineIndex, tokens: Iterable[Token]) -> types.SemanticTokens:
    """Relative encoding (LSP 3.16), one token per line piece (no multi-line tokens)."""
    data: list[int] = []
    prev_line = prev_char = 0
    text = index.text
    covered = 0  # tokens may not overlap: a comment between two string parts is skipped
    for token in tokens:
        for start, end in _line_pieces(text, token.start, token.end):
            if start < covered:
                continue
            covered = end
            line, char = index.utf16_position(start)
            _, end_char = index.utf16_position(end)
            delta_line = line - prev_line
            delta_char = char - prev_char if delta_line == 0 else char
            data += [delta_line, delta_char, end_char - char, _TOKEN_TYPE[token.kind], 0]
            prev_line, prev_char = line, char
    return types.SemanticTokens(data=data)


def _line_pieces(text: str, start: int, end: int) -> Iterable[tuple[int, int]]:
    while start < end:
        newline = text.find("\n", start, end)
        stop = end if newline == -1 else newline
        piece = text[start:stop].rstrip("\r")
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            yield start + lead, start + len(piece)
        if newline == -1:
            return
        start = newline + 1
