"""Any schema: a user's .proto compiled by protoc, found by options or by the header, and
every kind of field checked as protobuf's own parser checks it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import text_format

from kvcal.grammar import analyze, check
from kvcal.grammar.schema import compile as compile_mod
from kvcal.grammar.schema.resolution import SchemaError, SchemaOptions, explicit_schema
from kvcal.grammar.text import LineIndex

DATA = Path(__file__).resolve().parents[1] / "data" / "schemas"
ACME = explicit_schema(DATA / "acme.proto", "acme.Experiment")
OPEN = explicit_schema(DATA / "open.proto", "acme.v3.Job")
EDITIONS = explicit_schema(DATA / "editions.proto", "acme.ed.Task")


def problems(text: str, schema=ACME) -> list[tuple[int, str, str]]:  # type: ignore[no-untyped-def]
    index = LineIndex(text)
    return [(index.position(p.start)[0] + 1, p.severity, p.code) for p in check(text, schema=schema)]


def protobuf_accepts(text: str, schema=ACME) -> bool:  # type: ignore[no-untyped-def]
    try:
        text_format.Parse(text, schema.message_class()(), descriptor_pool=schema.set.pool)
    except Exception:
        return False
    return True


VALID = """name: "e1"
small: -2147483648
big: 9223372036854775807
count: 4294967295
huge: 0xFFFFFFFFFFFFFFFF
delta: -5
mask: 017
offset: -1
ratio: 1.5f
precise: -inf
enabled: t
blob: "\\xff\\000"
speed: FAST
tags: ["a", 'b']
limits { key: "x" value: 1 }
limits [{ key: "y" value: 2 }, { key: "z" }]
host: "h"
Setting { key: "k" }
payload { [type.googleapis.com/acme.Step] { id: "s0" } }
timeout { seconds: 3 nanos: 5 }
steps { id: "s1" weight: nan }
[acme.note]: "extension"
[acme.extra_steps] { id: "s2" }
"""


def test_every_kind_of_field_checks_clean_as_protobuf_parses_it() -> None:
    assert protobuf_accepts(VALID)
    assert problems(VALID) == []


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("small: 2147483648", "type"),  # int32 overflow
        ("count: -1", "type"),  # uint32 sign
        ("huge: 18446744073709551616", "type"),  # uint64 overflow
        ("big: 1.5", "type"),  # a float for an integer
        ("ratio: 0x10", "type"),  # hex for a float
        ("ratio: 010", "type"),  # octal for a float
        ("enabled: 2", "type"),
        ("enabled: TRUE", "type"),
        ("tags: 5", "type"),  # unquoted string
        ("tags: 'x' 'y' tags: ['\\xff']", "type"),  # a string that is not UTF-8
        ("speed: MEDIUM", "enum-value"),
        ("speed: 3", "enum-value"),  # a closed enum takes only its numbers
        ("port: 1", "oneof-conflict"),  # host is set above
        ("name: 'again'", "duplicate-field"),
        ("host: 'again'", "duplicate-field"),
        ("setting { key: 'lower' } Setting { key: 'x' }", "duplicate-field"),
        ("limits { key: 1 }", "type"),  # a map key of the wrong type
        ("payload { [type.googleapis.com/acme.Nope] { } }", "unknown-field"),
        ("payload { [type.googleapis.com/acme.Step] { } }", "missing-required"),
        ("[acme.nope]: 1", "unknown-field"),
        ("steps { weight: 1 }", "missing-required"),
        ("timeout { seconds: 1 seconds: 2 }", "duplicate-field"),
        ("bogus: 1", "unknown-field"),
    ],
)
def test_each_mistake_is_one_error_and_protobuf_refuses_it_too(line: str, code: str) -> None:
    text = 'name: "e1"\nhost: "h"\n' + line + "\n"
    assert protobuf_accepts('name: "e1"\nhost: "h"\n')
    found = [p for p in problems(text) if p[1] == "error"]
    assert [c for _, _, c in found] == [code], found
    if code != "missing-required" or "Any" in line or "payload" in line:
        assert not protobuf_accepts(text)  # (a missing required field outside an Any: only kvcal says so)


def test_a_group_is_written_with_its_type_name_or_its_field_name() -> None:
    assert problems('name: "n"\nSetting { key: "a" }\n') == []
    assert problems('name: "n"\nsetting { key: "a" }\n') == []
    assert protobuf_accepts('name: "n"\nsetting { key: "a" }\n')


def test_numbers_only_pythons_parser_reads_are_a_warning() -> None:
    for value in ("1_000", "0b11", "0o17", "+5"):
        text = f'name: "n"\ncount: {value}\n'
        assert protobuf_accepts(text)
        assert problems(text) == [(2, "warning", "syntax")], value


def test_proto3_open_enums_and_fields_without_presence() -> None:
    assert problems("kind: 7\n", OPEN) == [(1, "information", "enum-value")]  # open: the number is kept
    assert protobuf_accepts("kind: 7\n", OPEN)
    # a scalar without presence given twice: protobuf does not object after a default value
    assert problems("retries: 0\nretries: 3\n", OPEN) == [(2, "warning", "duplicate-field")]
    assert protobuf_accepts("retries: 0\nretries: 3\n", OPEN)
    assert problems("retries: 1\nretries: 3\n", OPEN) == [(2, "error", "duplicate-field")]
    assert not protobuf_accepts("retries: 1\nretries: 3\n", OPEN)
    assert problems("priority: 0\npriority: 1\n", OPEN) == [(2, "error", "duplicate-field")]


def test_editions_legacy_required_and_delimited_fields() -> None:
    assert problems('owner: "me"\npart { size: 1 }\nmode: ON\n', EDITIONS) == []
    assert problems("level: 1\n", EDITIONS) == [(1, "error", "missing-required")]


def test_a_header_names_the_schema_relative_to_the_document(tmp_path: Path) -> None:
    shutil.copy(DATA / "acme.proto", tmp_path / "acme.proto")
    doc = tmp_path / "run.txtpb"
    text = "# proto-file: acme.proto\n# proto-message: Experiment\n" + VALID
    analysis = analyze(text, path=doc)
    assert analysis.resolution.how == "header" and analysis.schema is not None
    assert analysis.schema.name == "acme.Experiment" and analysis.schema.family is None
    assert [p for p in analysis.problems if p.severity in ("error", "warning")] == []
    assert analysis.schema.doc("acme.Experiment.name").en == "What the experiment is called."
    decl = analysis.schema.declaration("acme.Experiment.Speed.FAST")
    assert decl is not None and decl.file == tmp_path / "acme.proto" and decl.line > 0


def test_the_proto_path_and_the_workspace_are_searched_after_the_documents_folder(tmp_path: Path) -> None:
    (tmp_path / "protos").mkdir()
    shutil.copy(DATA / "open.proto", tmp_path / "protos" / "open.proto")
    doc = tmp_path / "docs" / "job.txtpb"
    text = "# proto-file: open.proto\n# proto-message: acme.v3.Job\nkind: BATCH\n"
    assert analyze(text, path=doc).schema is None  # not found next to the document
    found = analyze(text, path=doc, options=SchemaOptions(proto_path=(tmp_path / "protos",)))
    assert found.schema is not None and found.schema.name == "acme.v3.Job"
    text2 = "# proto-file: protos/open.proto\n# proto-message: acme.v3.Job\nkind: BATCH\n"
    assert analyze(text2, path=doc, options=SchemaOptions(workspace=(tmp_path,))).schema is not None


def test_header_problems_are_one_diagnostic_on_the_header_and_no_schema_errors(tmp_path: Path) -> None:
    shutil.copy(DATA / "broken.proto", tmp_path / "broken.proto")
    doc = tmp_path / "x.txtpb"
    cases = {
        "# proto-file: broken.proto\n# proto-message: Broken\nname: 1\n": (1, "broken.proto"),
        "# proto-file: missing.proto\n# proto-message: X\nname: 1\n": (1, "cannot find missing.proto"),
        "# proto-file: broken.proto\n": (1, "does not compile"),
    }
    shutil.copy(DATA / "open.proto", tmp_path / "open.proto")
    cases["# proto-file: open.proto\n# proto-message: acme.v3.Nope\nkind: 1\n"] = (2, "has no message")
    for text, (line, words) in cases.items():
        analysis = analyze(text, path=doc)
        errors = [p for p in analysis.problems if p.is_error]
        assert len(errors) == 1 and errors[0].code == "schema" and words in errors[0].message, (text, errors)
        assert LineIndex(text).position(errors[0].start)[0] + 1 == line
        assert analysis.schema is None  # syntax only: no schema error for the document itself


def test_a_compiled_schema_is_cached_until_its_proto_changes(tmp_path: Path) -> None:
    proto = tmp_path / "open.proto"
    shutil.copy(DATA / "open.proto", proto)
    doc = tmp_path / "job.txtpb"
    text = "# proto-file: open.proto\n# proto-message: acme.v3.Job\nkind: BATCH\n"
    analyze(text, path=doc)
    before = compile_mod.compile_count()
    for i in range(3):  # edits of the document never recompile
        analyze(text + f"retries: {i}\n", path=doc)
    assert compile_mod.compile_count() == before
    proto.write_text(proto.read_text().replace("BATCH = 1;", "BATCH = 1;\n    STREAM = 2;"))
    import os

    os.utime(proto, ns=(proto.stat().st_atime_ns, proto.stat().st_mtime_ns + 10**9))
    assert [
        p.code
        for p in check("# proto-file: open.proto\n# proto-message: acme.v3.Job\nkind: STREAM\n", path=doc)
        if p.is_error
    ] == []
    assert compile_mod.compile_count() == before + 1


def test_explicit_schema_errors_say_what_to_do() -> None:
    with pytest.raises(SchemaError, match="say which message"):
        explicit_schema(DATA / "acme.proto", None)
    with pytest.raises(SchemaError, match="has no message"):
        explicit_schema(DATA / "acme.proto", "acme.Nope")
    with pytest.raises(SchemaError, match="does not exist"):
        explicit_schema(DATA / "nope.proto", "X")
    assert explicit_schema(None, "AMCTConfig").family == "ptq"  # a bundled AMCT root by its name
    assert explicit_schema(DATA / "open.proto", None).name == "acme.v3.Job"  # the only message


def test_no_schema_means_syntax_only_and_a_note_offering_a_header() -> None:
    analysis = analyze("foo: 1\nbar { baz: 'x' }\n")
    assert analysis.schema is None and analysis.root is None
    (note,) = analysis.problems
    assert (note.code, note.severity) == ("schema", "information")
    assert any("AMCTConfig" in c["insert"]["text"] for c in note.data["choices"])
    assert [p.code for p in analyze("foo: 1\nbar { baz: 'x'\n").problems if p.is_error] == ["syntax"]


def test_a_file_only_claimed_by_its_extension_that_is_no_text_format_gets_nothing() -> None:
    ini = "[metadata]\nname = kvcal\nversion = 1.0\n"
    assert analyze(ini, options=SchemaOptions(quiet=True)).problems == ()
    assert analyze(ini).problems  # a .txtpb (not quiet): its syntax errors are shown


def test_a_header_naming_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe.proto")
    doc = tmp_path / "x.txtpb"
    analysis = analyze("# proto-file: pipe.proto\n# proto-message: X\nfoo: 1\n", path=doc)
    (error,) = [p for p in analysis.problems if p.is_error]
    assert error.code == "schema" and "cannot find pipe.proto" in error.message
    # the channel-prune search's override file too: read only when it is a regular file
    os.mkfifo(tmp_path / "override.cfg")
    text = f"compress_ratio: 2\noverride_prune_cfg: '{tmp_path / 'override.cfg'}'\n"
    problems = [p for p in check(text, path=doc) if p.code == "file-path"]  # (returns: nothing waits on the FIFO)
    assert problems and "does not exist here" in problems[0].message


def test_a_header_path_written_from_the_projects_root_is_found_from_a_nested_document(tmp_path: Path) -> None:
    # protoc, Bazel and protobuf's printers write descriptor.file.name: the path from the root
    (tmp_path / "proto" / "acme").mkdir(parents=True)
    shutil.copy(DATA / "open.proto", tmp_path / "proto" / "acme" / "open.proto")
    doc = tmp_path / "golden" / "jobs" / "one.txtpb"
    text = "# proto-file: proto/acme/open.proto\n# proto-message: Job\nkind: BATCH\n"
    missing = analyze(text, path=doc)
    assert missing.schema is None  # no project root above: not looked for up there
    assert [p.code for p in missing.problems if p.is_error] == ["schema"]
    for marker in (".git", "MODULE.bazel", "buf.yaml"):
        (tmp_path / marker).mkdir() if marker == ".git" else (tmp_path / marker).write_text("")
        found = analyze(text, path=doc)
        assert found.schema is not None and found.schema.name == "acme.v3.Job", marker
        assert found.resolution.protos[0] == tmp_path / "proto" / "acme" / "open.proto"
        assert [p for p in found.problems if p.is_error] == []
        bad = analyze(text.replace("BATCH", "NOPE"), path=doc)
        assert [p.code for p in bad.problems if p.is_error] == ["enum-value"]  # the schema is in force
        (tmp_path / marker).rmdir() if marker == ".git" else (tmp_path / marker).unlink()
    # a nearer root stops the search: the proto above it is not this project's
    (tmp_path / "golden" / ".git").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    assert analyze(text, path=doc).schema is None


def test_a_protos_imports_written_from_its_source_root_compile_without_a_proto_path(tmp_path: Path) -> None:
    # src/main/proto is the build's -I: map.proto imports "wfa/cfg/common.proto" from there
    folder = tmp_path / "src" / "main" / "proto" / "wfa" / "cfg"
    folder.mkdir(parents=True)
    (folder / "common.proto").write_text(
        'syntax = "proto3";\npackage wfa.cfg;\n// A key.\nmessage Key { string id = 1; }\n'
    )
    (folder / "map.proto").write_text(
        'syntax = "proto3";\npackage wfa.cfg;\nimport "wfa/cfg/common.proto";\n'
        'import "google/protobuf/any.proto";\nmessage Map { repeated Key keys = 1; }\n'
    )
    (tmp_path / ".git").mkdir()
    doc = tmp_path / "golden" / "m.txtpb"
    text = '# proto-file: src/main/proto/wfa/cfg/map.proto\n# proto-message: Map\nkeys { idd: "a" }\n'
    analysis = analyze(text, path=doc)
    assert analysis.schema is not None and analysis.schema.name == "wfa.cfg.Map"
    assert [(p.code, p.message.split(":")[0]) for p in analysis.problems if p.is_error] == [
        ("unknown-field", "keys has no field 'idd'")
    ]
    decl = analysis.schema.declaration("wfa.cfg.Key.id")  # go to definition reaches the imported file
    assert decl is not None and decl.file == folder / "common.proto"
    # an import that exists nowhere is still protoc's one error on the header
    (folder / "map.proto").write_text('syntax = "proto3";\nimport "wfa/cfg/gone.proto";\nmessage Map {}\n')
    broken = analyze(text, path=doc)
    assert broken.schema is None
    assert [p.code for p in broken.problems if p.is_error] == ["schema"]
    assert "wfa/cfg/gone.proto" in next(p.message for p in broken.problems if p.is_error)


def test_a_failed_compilation_is_retried_once_the_missing_import_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "main.proto").write_text('syntax = "proto3";\nimport "dep.proto";\nmessage M { D d = 1; }\n')
    doc = tmp_path / "m.txtpb"
    text = "# proto-file: main.proto\n# proto-message: M\nd { x: 1 }\n"
    assert analyze(text, path=doc).schema is None  # dep.proto is missing
    (tmp_path / "dep.proto").write_text('syntax = "proto3";\nmessage D { int32 x = 1; }\n')
    before = compile_mod.compile_count()
    assert analyze(text, path=doc).schema is None  # the failure is kept a moment: no protoc per keystroke
    assert compile_mod.compile_count() == before
    monkeypatch.setattr(compile_mod, "RETRY_FAILED_S", 0.0)
    fixed = analyze(text, path=doc)
    assert fixed.schema is not None and [p for p in fixed.problems if p.is_error] == []
    assert compile_mod.compile_count() == before + 1


def test_nesting_deeper_than_protobufs_parser_reads_is_one_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "t.proto").write_text('syntax = "proto3";\npackage t;\nmessage M { string s = 1; M m = 2; }\n')
    schema = explicit_schema(tmp_path / "t.proto", "t.M")
    cls = schema.message_class()
    from kvcal.grammar.checks.analysis import MAX_NESTING

    def nested(n: int, open_: str = "{", close: str = "}") -> str:
        return f"m {open_} " * n + 's: "x"' + f" {close}" * n

    # protobuf reads MAX_NESTING levels from a fresh interpreter, and not 40 more
    probe = (
        "import sys\nfrom pathlib import Path\nfrom google.protobuf import text_format\n"
        "from kvcal.grammar.schema.resolution import explicit_schema\n"
        "cls = explicit_schema(Path(sys.argv[1]), 't.M').message_class()\n"
        "n = int(sys.argv[2])\n"
        "try:\n    text_format.Parse('m { ' * n + 's: \"x\"' + ' }' * n, cls()); print('ok')\n"
        "except RecursionError:\n    print('RecursionError')\n"
    )
    verdicts = [
        subprocess.run(
            [sys.executable, "-c", probe, str(tmp_path / "t.proto"), str(n)], capture_output=True, text=True, check=True
        ).stdout.strip()
        for n in (MAX_NESTING, MAX_NESTING + 40)
    ]
    assert verdicts == ["ok", "RecursionError"]
    text_format.Parse(nested(MAX_NESTING - 100), cls())  # (from inside pytest's deeper stack: sooner)
    assert check(nested(MAX_NESTING), schema=schema) == []
    for n, brackets in ((MAX_NESTING + 1, "{}"), (5000, "{}"), (3000, "<>")):
        problems = check(nested(n, *brackets), schema=schema)
        assert [(p.code, p.severity) for p in problems] == [("nesting", "error")], n


@pytest.mark.parametrize(
    "literal", ["3.4028235e+38", "-3.4028235e+38", "3.40282356e38", "3.4028236e38", "1e39", "-1e39", "1e38"]
)
def test_a_float_is_beyond_float32_exactly_when_protobuf_stores_infinity(literal: str) -> None:
    text = f'name: "a"\nratio: {literal}\n'
    msg = ACME.message_class()()
    text_format.Parse(text, msg)
    overflows = msg.ratio in (float("inf"), float("-inf"))
    warned = [p for p in check(text, schema=ACME) if "beyond float32" in p.message]
    assert bool(warned) == overflows, (literal, msg.ratio, warned)


@pytest.mark.parametrize(
    "body", [r"a\xzb", r"\x", r"\x4", r"\x41\x", r"\u12", r"\u00e9", r"\U1234", r"\U0001F600", r"\8", r"\q", r"\0"]
)
@pytest.mark.parametrize("field", ["name", "blob"])
def test_escapes_are_errors_exactly_where_protobuf_refuses_them(body: str, field: str) -> None:
    text = f'name: "a"\n{field}: "{body}"\n' if field != "name" else f'name: "{body}"\n'
    try:
        text_format.Parse(text, ACME.message_class()())
        refused = False
    except text_format.ParseError:
        refused = True
    errors = [p for p in check(text, schema=ACME) if p.is_error]
    assert bool(errors) == refused, (text, errors)
    if refused:
        assert [p.code for p in errors] == ["syntax"] and "truncated escape" in errors[0].message


def test_format_prints_an_escape_protobuf_keeps_as_written_instead_of_refusing(tmp_path: Path) -> None:
    from kvcal.grammar.formatter import format_text

    text = 's:   "a\\qb"   # kept\n'
    found = check(text)
    assert not [p for p in found if p.is_error] and [p.code for p in found if p.severity == "warning"] == ["syntax"]
    assert format_text(text) == 's: "a\\qb"  # kept\n'


@pytest.mark.parametrize(
    "body",
    [
        '[type.googleapis.com/acme.Experiment] { name: "x" } type_url: "a/b"',
        'type_url: "a/b" [type.googleapis.com/acme.Experiment] { name: "x" }',
        '[type.googleapis.com/acme.Experiment] { name: "x" } value: "zz"',
        'value: "zz" [type.googleapis.com/acme.Experiment] { name: "x" }',
        'type_url: "a/b" value: ""',
    ],
)
def test_an_expanded_any_and_its_own_fields_get_protobufs_verdict(body: str) -> None:
    text = f'name: "a"\npayload {{ {body} }}\n'
    cls = ACME.message_class()
    try:
        text_format.Parse(text, cls(), descriptor_pool=cls.DESCRIPTOR.file.pool)
        refused = False
    except text_format.ParseError:
        refused = True
    errors = [p for p in check(text, schema=ACME) if p.is_error]
    assert bool(errors) == refused, (text, errors)
    assert all(p.code == "duplicate-field" for p in errors)


def test_a_name_with_a_syntax_error_inside_is_not_checked_against_the_schema_again() -> None:
    for text in ('name: "a"\npayload { [/acme.Experiment] { name: "x" } }\n', 'name: "a"\n[acme ext]: 1\n'):
        errors = [p for p in check(text, schema=ACME) if p.is_error]
        assert [p.code for p in errors] == ["syntax"], (text, errors)


def test_a_field_is_shown_as_its_proto_declares_it() -> None:
    from kvcal.grammar.schema import declared

    fields = ACME.root.fields_by_name
    assert declared(fields["limits"]) == "map<string, int32>"  # (a map has no label)
    assert declared(fields["tags"]) == "repeated string"
    assert declared(fields["name"]) == "required string"
    assert declared(fields["speed"]) == "optional Speed"


def test_a_header_naming_a_missing_message_lists_the_files_messages() -> None:
    with pytest.raises(SchemaError) as nope:
        explicit_schema(DATA / "acme.proto", "acme.Nope")
    assert "did you mean" not in str(nope.value) and "it has acme.Experiment, acme.Step" in str(nope.value)
    with pytest.raises(SchemaError) as typo:
        explicit_schema(DATA / "acme.proto", "acme.Experimnt")
    assert "did you mean acme.Experiment?" in str(typo.value)
