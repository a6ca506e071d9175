"""Texts to calibrate and evaluate on: the user's files, or four built-in domains.

The built-in texts are real text that is on every machine where kvcal runs a model, none
of it written for kvcal except ``prose``, and none downloaded:

======  ===============================================  ==========================================
name    calibration part / evaluation part               where it comes from (licence)
======  ===============================================  ==========================================
prose   examples/texts/calibration.txt / evaluation.txt  written for kvcal (CC0 1.0)
docs    numpy's reference docstrings: even / odd ones    ``numpy/_core/_add_newdocs.py`` (BSD-3)
code    Python source: ``lark/lark.py`` / ``load_grammar.py``  the lark package (MIT)
legal   (none: held out) / the Apache License 2.0 text   transformers' ``LICENSE`` (Apache-2.0)
======  ===============================================  ==========================================

numpy and lark are kvcal's own dependencies; transformers comes with the model extra, which
every model run needs. A built-in name is written ``@docs``; calibration options read its
calibration part and evaluation options its evaluation part, so the two never overlap.
``legal`` has no calibration part: it is the domain kept for a final check only.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kvcal.calibrate.model.loader import INSTALL_HINT, ModelError, bundled_text

__all__ = [
    "BUILTIN",
    "CALIBRATION_DEFAULT",
    "EVALUATION_DEFAULT",
    "HELD_OUT",
    "BuiltinText",
    "NamedText",
    "load_text",
]

Part = Literal["calibration", "evaluation"]


@dataclass(frozen=True)
class NamedText:
    """A text and how reports name it (a built-in's name, or the file's path)."""

    name: str
    text: str
    source: str


@dataclass(frozen=True)
class BuiltinText:
    name: str
    domain: str
    source: str
    licence: str
    calibration: Callable[[], str] | None
    evaluation: Callable[[], str]


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the built-in texts need the {package} package: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: cannot read this built-in text ({exc}); reinstall its package") from exc


def _numpy_docstrings(parity: int) -> str:
    """numpy's reference docstrings (the ``add_newdoc`` strings), every other one."""
    root = _package_dir("numpy")
    path = next(
        (p for p in (root / "_core" / "_add_newdocs.py", root / "core" / "_add_newdocs.py") if p.is_file()),
        root / "_core" / "_add_newdocs.py",
    )
    found = [
        (n.lineno, n.col_offset, n.value)
        for n in ast.walk(ast.parse(_read(path)))
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and len(n.value) >= 200
    ]
    found.sort()
    return "\n\n".join(inspect.cleandoc(text) for _, _, text in found[parity::2])


def _lark_source(module: str) -> str:
    return _read(_package_dir("lark") / module)


def _apache_licence() -> str:
    try:
        dist = importlib.metadata.distribution("transformers")
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(f"the built-in 'legal' text is transformers' licence: {INSTALL_HINT}") from None
    for f in dist.files or []:
        if f.name in ("LICENSE", "LICENSE.txt"):
            return _read(Path(str(f.locate())))
    raise ModelError("transformers is installed without its LICENSE file; reinstall it")


BUILTIN: dict[str, BuiltinText] = {
    t.name: t
    for t in (
        BuiltinText(
            "prose",
            "expository prose (lighthouses / rivers)",
            "examples/texts/calibration.txt and evaluation.txt, written for kvcal",
            "CC0-1.0",
            lambda: _read(bundled_text("calibration")),
            lambda: _read(bundled_text("evaluation")),
        ),
        BuiltinText(
            "docs",
            "API reference documentation",
            "numpy's docstrings in numpy/_core/_add_newdocs.py (even-numbered for "
            "calibration, odd-numbered for evaluation)",
            "BSD-3-Clause (numpy)",
            lambda: _numpy_docstrings(0),
            lambda: _numpy_docstrings(1),
        ),
        BuiltinText(
            "code",
            "Python source code",
            "lark's lark/lark.py (calibration) and lark/load_grammar.py (evaluation)",
            "MIT (lark)",
            lambda: _lark_source("lark.py"),
            lambda: _lark_source("load_grammar.py"),
        ),
        BuiltinText(
            "legal",
            "licence text",
            "the Apache License 2.0 as transformers' dist-info ships it (evaluation only: the held-out domain)",
            "Apache-2.0 (the licence text itself may be copied verbatim)",
            None,
            _apache_licence,
        ),
    )
}
#: the domains a tuning or a calibration uses by default, and the one kept out of both
CALIBRATION_DEFAULT = ("prose", "docs", "code")
EVALUATION_DEFAULT = ("prose", "docs", "code", "legal")
HELD_OUT = ("legal",)


def load_text(spec: str | os.PathLike[str], part: Part) -> NamedText:
    """``@name`` (a built-in text's *part*) or a UTF-8 file."""
    written = os.fspath(spec)
    if written.startswith("@"):
        name = written[1:]
        builtin = BUILTIN.get(name)
        if builtin is None:
            raise ModelError(
                f"{written}: no such built-in text; the built-in texts are "
                f"{', '.join('@' + n for n in BUILTIN)} (or give a file)"
            )
        reader = builtin.calibration if part == "calibration" else builtin.evaluation
        if reader is None:
            raise ModelError(
                f"{written} is kept for evaluation only (the held-out domain): "
                f"calibrate on {', '.join('@' + n for n in CALIBRATION_DEFAULT)} or your own files"
            )
        return NamedText(name, reader(), f"@{name} ({builtin.source})")
    path = Path(written)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        what = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ModelError(
            f"{path}: cannot read the text ({what}); give a UTF-8 text file or a "
            f"built-in text ({', '.join('@' + n for n in BUILTIN)})"
        ) from exc
    return NamedText(path.stem, text, str(path))
