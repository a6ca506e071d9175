"""Writes never destroy what they were not asked to write (docs/files.md).

Every output kvcal writes (the record, the report folder and its files, the evaluation plot,
captured samples) and every file it rewrites (``kvcal format``) is tried against targets of
every kind: a regular file, a missing one, a link to a file, to a folder, a dangling link, a
FIFO, a socket, a device node, a folder. Outputs are written only where the path is missing
or a regular file; ``format`` follows links (keeping them) and writes only regular files,
and never loses an edit saved while it ran.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvcal.server.cli import main
from tests.files.targets import KINDS, OUTSIDE_TEXT, SPECIAL, make, snapshot, temporaries

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "quant.cfg"
SAMPLES = ROOT / "examples" / "kv_samples.safetensors"
UNFORMATTED = "batch_num:2\nkv_cache_quant_config{quant_layers:'a'}\n"
FORMATTED = "batch_num: 2\nkv_cache_quant_config {\n  quant_layers: 'a'\n}\n"


def short_folder() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="kvcal-w-", dir="/tmp")  # (a socket path is at most 107 bytes)


def unchanged_except(before: dict, after: dict, allowed: set[str]) -> None:
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed <= allowed, changed


# -- outputs: the record --------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), update=st.booleans())
def test_the_record_is_written_only_as_a_regular_file(kind: str, update: bool) -> None:
    from kvcal.calibrate import RecordError, write_record

    with short_folder() as tmp:
        folder = Path(tmp)
        target = make(kind, folder, "record.txt")
        if target is None:
            return
        before = snapshot(folder)
        if kind == "regular":
            target.write_text("")  # an empty record: updated
            before = snapshot(folder)
        try:
            write_record(target, {"a": ([0.5], [1])}, update=update)
        except RecordError as exc:
            assert kind in SPECIAL, exc
            assert str(target) in str(exc) and "Traceback" not in str(exc)
            assert snapshot(folder) == before  # nothing replaced, nothing followed
        else:
            assert kind not in SPECIAL
            st_ = os.lstat(target)
            assert stat.S_ISREG(st_.st_mode) and 'key: "a"' in target.read_text()
            unchanged_except(before, snapshot(folder), {str(target.relative_to(folder)), "no", "no/such"})
        assert temporaries(folder) == []


@pytest.mark.parametrize("kind", sorted(SPECIAL))
def test_calibrate_refuses_a_special_record_before_calibrating(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    with short_folder() as tmp:
        folder = Path(tmp)
        target = make(kind, folder, "record.txt")
        if target is None:
            pytest.skip("no CAP_MKNOD here")
        before = snapshot(folder)
        rc = main(["calibrate", str(EXAMPLE), "--data", str(SAMPLES), "--record", str(target)])
        out = capsys.readouterr()
        assert rc == 2 and "--record" in out.err and str(target) in out.err
        assert out.out == ""  # refused before calibrating: no table
        assert snapshot(folder) == before


# -- outputs: the report folder and the files in it ---------------------------------------------


@pytest.fixture(scope="module")
def result():
    from kvcal.calibrate import calibrate
    from kvcal.grammar import resolve

    return calibrate(resolve(EXAMPLE.read_text()), SAMPLES, device="cpu")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(kind=st.sampled_from(KINDS), which=st.sampled_from(["report.md", "picture"]))
def test_nothing_planted_in_a_report_folder_is_followed(result, kind: str, which: str) -> None:
    from kvcal.calibrate.results.report import picture_name, write_report

    with short_folder() as tmp:
        folder = Path(tmp)
        report = folder / "report"
        report.mkdir()
        name = "report.md" if which == "report.md" else picture_name(result.layers[0].layer_name)
        if kind == "missing_parent":
            kind = "missing"
        target = make(kind, report, name)
        if target is None:
            return
        (report / "outside.txt").rename(folder / "outside.txt")  # the file a planted link points to
        if target.is_symlink():
            target.unlink()
            real = {
                "link_to_regular": folder / "outside.txt",
                "link_to_dir": folder,
                "dangling_link": folder / "missing",
                "link_to_fifo": report / "outside_fifo",
            }[kind]
            target.symlink_to(real)
        before = snapshot(folder)
        try:
            write_report(result, report)
        except OSError as exc:
            assert kind in SPECIAL and exc.filename == str(target)
            assert snapshot(folder) == before  # every target is checked before the first write
        else:
            assert kind not in SPECIAL
            assert stat.S_ISREG(os.lstat(target).st_mode)
        assert (folder / "outside.txt").read_text() == OUTSIDE_TEXT
        assert temporaries(folder) == []


@pytest.mark.parametrize("kind", ["link_to_dir", "fifo", "regular", "device"])
def test_the_report_folder_itself(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    with short_folder() as tmp:
        folder = Path(tmp)
        target = make(kind, folder, "report")
        if target is None:
            pytest.skip("no CAP_MKNOD here")
        before = snapshot(folder)
        rc = main(["calibrate", str(EXAMPLE), "--data", str(SAMPLES), "--report", str(target)])
        err = capsys.readouterr().err
        assert rc == 2 and "--report" in err and "Traceback" not in err
        assert snapshot(folder) == before


# -- the generic writer -----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(KINDS), data=st.binary(max_size=64))
def test_write_output_contract(kind: str, data: bytes) -> None:
    from kvcal.grammar.files import FileRefused, write_output

    with short_folder() as tmp:
        folder = Path(tmp)
        target = make(kind, folder)
        if target is None:
            return
        before = snapshot(folder)
        try:
            write_output(target, data, make_parents=True)
        except FileRefused:
            assert kind in SPECIAL
            assert snapshot(folder) == before
        else:
            assert kind not in SPECIAL and target.read_bytes() == data
        assert temporaries(folder) == []


# -- kvcal format ------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(kind=st.sampled_from(KINDS))
def test_format_rewrites_only_regular_files_through_links(kind: str) -> None:
    import contextlib
    import io

    with short_folder() as tmp:
        folder = Path(tmp)
        target = make(kind, folder, "q.cfg")
        if target is None:
            return
        (folder / "outside.txt").write_text(UNFORMATTED)
        if kind == "regular":
            target.write_text(UNFORMATTED)
        before = snapshot(folder)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(["format", str(target)])
        if kind in ("regular", "link_to_regular"):
            assert rc == 0, err.getvalue()
            real = folder / ("outside.txt" if kind == "link_to_regular" else "q.cfg")
            assert real.read_text() == FORMATTED
            assert os.path.islink(target) == (kind == "link_to_regular")  # a link stays a link
        else:
            assert rc == 2 and str(target) in err.getvalue() and "Traceback" not in err.getvalue()
            assert snapshot(folder) == before
        assert temporaries(folder) == []


def test_format_keeps_an_edit_saved_while_it_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import kvcal.server.commands.format as fmt

    cfg = tmp_path / "q.cfg"
    cfg.write_text(UNFORMATTED)
    edited = UNFORMATTED + "batch_num:3\n"
    real_format = fmt.format_text

    def slow_format(parsed, indent="  "):  # the user saves an edit while kvcal formats
        cfg.write_text(edited)
        return real_format(parsed, indent)

    monkeypatch.setattr(fmt, "format_text", slow_format)
    assert main(["format", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "changed on disk" in err and str(cfg) in err
    assert cfg.read_text() == edited
    assert temporaries(tmp_path) == []


@settings(max_examples=60, deadline=None)
@given(original=st.text(max_size=40), now=st.text(max_size=40))
def test_rewrite_in_place_is_a_compare_and_swap(original: str, now: str) -> None:
    from kvcal.grammar.files import FileChanged, rewrite_in_place

    with short_folder() as tmp:
        path = Path(tmp) / "q.cfg"
        path.write_bytes(now.encode())
        try:
            rewrite_in_place(path, "new\n", original.encode())
        except FileChanged:
            assert now != original and path.read_bytes() == now.encode()
        else:
            assert now == original and path.read_text() == "new\n"


def test_the_outputs_of_capture_and_evaluate_are_checked_too(tmp_path: Path) -> None:
    from kvcal.calibrate import SampleDataError
    from kvcal.calibrate.model.capture import Capture
    from kvcal.server.commands.evaluate import plot_problem

    fifo = make("fifo", tmp_path, "out.png")
    assert fifo is not None and "FIFO" in (plot_problem(fifo) or "")
    cap = Capture.__new__(Capture)
    cap._outputs = {"a": []}
    link = make("link_to_regular", tmp_path, "kv.safetensors")
    with pytest.raises(SampleDataError, match="symbolic link"):
        cap._outputs = {"a": [__import__("torch").ones(2, 2)]}
        cap.save(link)
    assert (tmp_path / "outside.txt").read_text() == OUTSIDE_TEXT
