"""Issue 23: what an independent fuzzer and a hostile command line found. Each case answers with
a located diagnostic or one line and exit 1/2: never a traceback, a hang, or a file replaced."""
from __future__ import annotations

import pytest

from dslc.api import check_text
from dslc.diagnostics import render
from support import cli

# Separators that Python's str.splitlines splits at and lark does not.
SEPARATORS = ["\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("sep", SEPARATORS, ids=ascii)
def test_a_separator_in_a_comment_leaves_later_lines_where_they_are(sep):
    text = (f"# a comment{sep}with a separator\n"
            "model M {\n"
            "    input x: f32[N, 4]\n"
            "    output y = x -> conv2d(2, 3)\n"
            "}\n")
    (d,) = check_text(text).diagnostics
    assert d.span.line == 4
    assert "output y = x -> conv2d(2, 3)" in render(d, check_text(text).sources, False)


@pytest.mark.parametrize("sep", SEPARATORS, ids=ascii)
def test_a_separator_inside_a_token_is_a_located_syntax_error(sep):
    text = f"model M {{\n    input x: f32[N, 4]\n    output y = x -> re{sep}lu\n}}\n"
    program = check_text(text)
    (d,) = program.diagnostics
    assert d.code in ("E101", "E102") and d.span.line in (3, 4)
    shown = render(d, program.sources, False)
    assert f"{d.span.line} | " in shown
    if d.code == "E102":
        assert ascii(sep)[1:-1] in d.message


# ---- imports ----
MAIN = "model M {\n    input x: f32[N, 4]\n    output y = x -> relu\n}\n"


def test_an_import_with_a_nul_byte_is_e105():
    (d,) = check_text('import "\x00.dl"\n' + MAIN, "main.dl").diagnostics
    assert (d.code, d.span.line) == ("E105", 1) and "NUL" in d.message


def test_an_import_whose_symlinks_loop_is_e100(tmp_path):
    (tmp_path / "a.dl").symlink_to("b.dl")
    (tmp_path / "b.dl").symlink_to("a.dl")
    main = tmp_path / "main.dl"
    (d,) = check_text('import "a.dl"\n' + MAIN, str(main)).diagnostics
    assert (d.code, d.span.line) == ("E100", 1) and "loop" in d.message


# ---- numbers at the edges ----
@pytest.mark.parametrize("digits", [101, 4_400, 100_000])
def test_an_integer_literal_over_100_digits_is_e307_before_conversion(digits):
    text = f"model M {{\n    input x: f32[N, 4]\n    output y = x -> dense({'9' * digits})\n}}\n"
    (d,) = check_text(text).diagnostics
    assert (d.code, d.span.line) == ("E307", 3) and f"{digits:,} digits" in d.message


def test_a_100_digit_literal_is_a_size():
    text = f"model M {{\n    input x: f32[N, 4]\n    output y = x -> dense({'9' * 100})\n}}\n"
    assert check_text(text).models["M"].outputs


@pytest.mark.parametrize("target", ["onnx", "torch", "torch-src"])
def test_a_size_over_int64_is_one_line_not_a_backend_traceback(capsys, tmp_path, target):
    spec = tmp_path / "wide.dl"
    spec.write_text("model M {\n    input x: f32[N, 4]\n"
                    f"    output y = x -> dense({10 ** 30})\n}}\n")
    code, out, err = cli(capsys, "compile", spec, "--target", target, "-o", tmp_path / "out")
    assert code != 0 and len(err.strip().splitlines()) == 1 and "over int64" in err
    assert not (tmp_path / "out").exists()


# ---- values an input may hold: recurrent lengths, embedding ids ----
SEQ = ("model S {\n    input ids: i64[N, T]\n    input lengths: i64[N]\n"
       "    output y = ids -> embedding(10, 4) -> lstm(3, lengths=lengths)\n}\n")


@pytest.mark.parametrize("lengths, ids, bad", [([0, 5], 1, 0), ([1, 6], 1, 6), ([-2, 5], 1, -2),
                                               ([1, 5], -1, -1), ([1, 5], 10, 10)])
def test_the_torch_module_refuses_lengths_and_ids_out_of_range(lengths, ids, bad):
    torch = pytest.importorskip("torch")
    from dslc.checks.guards import InputError
    module = check_text(SEQ).models["S"].to_torch()
    with pytest.raises(InputError, match=f"holds {bad}, outside"):
        module(torch.full((2, 5), ids), torch.tensor(lengths))
    assert module(torch.full((2, 5), 9), torch.tensor([1, 5])).shape == (2, 5, 3)


@pytest.mark.parametrize("lengths, bad", [([0, 5], 0), ([1, 6], 6), ([-2, 5], -2)])
def test_run_refuses_lengths_out_of_range_in_one_line(capsys, tmp_path, lengths, bad):
    np = pytest.importorskip("numpy")
    pytest.importorskip("onnxruntime")
    spec, given = tmp_path / "s.dl", tmp_path / "lengths.npy"
    spec.write_text(SEQ)
    np.save(given, np.array(lengths, dtype=np.int64))
    code, out, err = cli(capsys, "run", spec, "--dim", "T=5", "--input", f"lengths={given}")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"`lengths` holds {bad}, outside 1..5 (the lengths of lstm" in err


def test_run_draws_random_lengths_and_ids_in_their_ranges(capsys, tmp_path):
    pytest.importorskip("onnxruntime")
    spec, saved = tmp_path / "s.dl", tmp_path / "out.npz"
    spec.write_text(SEQ)
    code, _, err = cli(capsys, "run", spec, "--dim", "T=7", "--dim", "N=64", "--save", saved)
    import numpy as np
    arrays = np.load(saved)
    assert code == 0, err
    assert arrays["input.lengths"].min() >= 1 and arrays["input.lengths"].max() <= 7
    assert arrays["input.ids"].min() >= 0 and arrays["input.ids"].max() <= 9
    assert arrays["input.lengths"].max() > 1 and arrays["input.ids"].max() > 1
