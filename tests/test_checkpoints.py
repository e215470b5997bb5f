"""Checkpoints by name (issue 20, item 6): a Hugging Face GPT-2 saved by save_pretrained
(safetensors, one file and sharded) loads into specs/transformer/gpt2.dl's blocks through rename
rules and gives HF's own outputs in torch and on onnxruntime; the rules' semantics one by one;
safetensors dtypes handled as the other formats handle them. Hostile files: test_hostile.py."""
from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import torch

import dslc
from dslc.passes.checkpoints import RenameError, RenameWarning, parse_rules
from dslc.passes.weights import WeightsError
from specfiles import SPECS
from support import cli

# GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=100, n_positions=32)):
# the blocks of specs/transformer/gpt2.dl at small hyperparameters
SMALL_GPT2 = """import "gpt2.dl"

model SmallGPT2 {
    input ids: i64[N, T]
    x = ids -> embedding(100, 64, name=wte) -> positional(32, name=wpe) -> dropout(0.1)
    output hidden = x -> GPT2Block(heads=4, ff=256, name=h) * 2 -> layernorm(name=ln_f)
    output logits = hidden -> dense(100, bias=false, tie=wte, name=lm_head)
}
"""
# Hugging Face's GPT-2 names -> the spec's. Conv1D stores [in, out]; in_proj_weight and dense
# weights are [out, in]: `:T`. The first rule that matches a key renames it.
GPT2_RULES = r"""# Hugging Face GPT-2 (GPT2Model, or GPT2LMHeadModel's `transformer.`) -> gpt2.dl
(?:transformer\.)?h\.(\d+)\.attn\.c_attn\.weight  -> h.\1.attn.in_proj_weight:T
(?:transformer\.)?h\.(\d+)\.attn\.c_attn\.bias    -> h.\1.attn.in_proj_bias
(?:transformer\.)?h\.(\d+)\.attn\.c_proj\.weight  -> h.\1.attn.out_proj.weight:T
(?:transformer\.)?h\.(\d+)\.attn\.c_proj          -> h.\1.attn.out_proj     # its bias
(?:transformer\.)?h\.(\d+)\.mlp\.(c_fc|c_proj)\.weight -> h.\1.\2.weight:T

(?:transformer\.)?h\.(\d+)\.mlp                   -> h.\1
transformer\.(.*)                                 -> \1
"""
TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    """(folder, HF's GPT2LMHeadModel, the spec's model): the checkpoint saved twice, sharded
    (GPT2LMHeadModel, index + 6 shards) and as one file (its GPT2Model), beside the spec and
    the rules file."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("safetensors")
    folder = tmp_path_factory.mktemp("gpt2")
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=100,
                                     n_positions=32, bos_token_id=0, eos_token_id=0)
    hf = transformers.GPT2LMHeadModel(config).eval()
    hf.save_pretrained(folder / "sharded", max_shard_size="100KB")
    hf.transformer.save_pretrained(folder / "single")
    assert len(list((folder / "sharded").glob("*.safetensors"))) > 1
    shutil.copy(SPECS / "transformer" / "gpt2.dl", folder / "gpt2.dl")
    (folder / "small.dl").write_text(SMALL_GPT2)
    (folder / "gpt2.rename").write_text(GPT2_RULES)
    model = dslc.load(folder / "small.dl").models["SmallGPT2"]
    assert model.params == hf.num_parameters() == 108_544
    return folder, hf, model


def _hf(hf, ids):
    with torch.no_grad():
        out = hf(input_ids=torch.from_numpy(ids), output_hidden_states=True)
    return out.hidden_states[-1].numpy(), out.logits.numpy()


def _ids(n, t, seed=0):
    return np.random.default_rng(seed).integers(0, 100, size=(n, t)).astype(np.int64)


@pytest.mark.parametrize("given", ["single", "sharded", "sharded/model.safetensors.index.json"])
def test_gpt2_loads_by_name_and_gives_hugging_faces_outputs_in_torch(gpt2, given):
    folder, hf, model = gpt2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        weights = dslc.read_weights(folder / given, rename=GPT2_RULES)
    # GPT2Model's keys have no `transformer.` prefix: the last rule matches none
    assert [str(w.message) for w in caught] == ([
        r"line 9: the rule `transformer\.(.*) -> \1` matched no key (a typo?)"]
        if given == "single" else [])
    assert set(weights) == set(model.param_shapes())
    module = model.to_torch(weights=weights).eval()
    for n, t in ((2, 7), (3, 32)):         # two values of the symbolic dims, T at the table's end
        ids = _ids(n, t)
        hidden, logits = _hf(hf, ids)
        with torch.no_grad():
            got = [o.numpy() for o in module(torch.from_numpy(ids))]
        np.testing.assert_allclose(got[0], hidden, **TOL)
        np.testing.assert_allclose(got[1], logits, **TOL)


def test_gpt2_compiles_and_runs_on_onnxruntime_with_hugging_faces_outputs(gpt2, capsys, tmp_path):
    pytest.importorskip("onnxruntime")
    folder, hf, _ = gpt2
    onnx_file = tmp_path / "gpt2.onnx"
    code, out, err = cli(capsys, "compile", folder / "small.dl", "--target", "onnx", "--weights",
                         folder / "sharded/model.safetensors.index.json",
                         "--rename-file", folder / "gpt2.rename", "-o", onnx_file)
    assert code == 0 and "108,544 parameters" in out and not err, err
    for n, t, source in ((2, 5, [onnx_file]),          # the compiled graph,
                         (3, 11, [folder / "small.dl", "--weights", folder / "sharded",
                                  "--rename-file", folder / "gpt2.rename"])):     # and run's build
        ids = _ids(n, t, seed=t)
        np.save(tmp_path / "ids.npy", ids)
        code, _, err = cli(capsys, "run", *source, "--input", f"ids={tmp_path / 'ids.npy'}",
                           "--save", tmp_path / "out.npz")
        assert code == 0 and not err, err
        saved = np.load(tmp_path / "out.npz")
        hidden, logits = _hf(hf, ids)
        np.testing.assert_allclose(saved["hidden"], hidden, **TOL)
        np.testing.assert_allclose(saved["logits"], logits, **TOL)


def test_without_the_transpose_the_strict_check_lists_the_misshaped_tensors(gpt2):
    folder, _, model = gpt2
    rules = GPT2_RULES.replace(":T", "")
    weights = dslc.read_weights(folder / "sharded", rename=rules)
    with pytest.raises(WeightsError) as e:
        model.to_torch(weights=weights)
    assert "h.0.attn.in_proj_weight [64, 192] (expected [192, 64])" in str(e.value)
    assert "h.1.c_fc.weight [64, 256] (expected [256, 64])" in str(e.value)
    # attn.c_proj is square: only the outputs can tell it was not transposed
    assert "out_proj" not in str(e.value)


def test_a_rule_that_matches_nothing_warns_and_the_keys_it_missed_are_listed(gpt2, capsys, tmp_path):
    folder, _, _ = gpt2
    typo = tmp_path / "typo.rename"
    typo.write_text(GPT2_RULES.replace(r"h\.(\d+)\.mlp   ", r"h\.(\d+)\.mpl   "))
    code, _, err = cli(capsys, "compile", folder / "small.dl", "--target", "onnx", "--weights",
                       folder / "sharded", "--rename-file", typo, "-o", tmp_path / "m.onnx")
    warning, problem = err.strip().splitlines()
    assert warning == (f"dslc compile: warning: {typo}:8: the rule "
                       r"`(?:transformer\.)?h\.(\d+)\.mpl -> h.\1` matched no key (a typo?)")
    assert code == 1 and not (tmp_path / "m.onnx").exists()
    assert problem.startswith("dslc compile: the weights do not fit model SmallGPT2: 4 missing: "
                              "h.0.c_fc.bias, h.0.c_proj.bias, h.1.c_fc.bias, h.1.c_proj.bias; "
                              "4 extra: h.0.mlp.c_fc.bias, h.0.mlp.c_proj.bias"), problem


# ---- the rules, one by one ----
def _w(*names, shape=(2, 3)):
    return {k: np.arange(np.prod(shape), dtype=np.float32).reshape(shape) + i
            for i, k in enumerate(names)}


def test_the_first_matching_rule_renames_a_key():
    got = dslc.rename_weights(_w("a.b.weight", "a.c.weight"),
                              [r"a\.b -> first", r"a\.(b|c) -> second.\1"])
    assert list(got) == ["first.weight", "second.c.weight"]


def test_a_pattern_matches_a_dotted_prefix_and_the_rest_of_the_key_stays():
    got = dslc.rename_weights(_w("h.1.w", "h.10.w", "h.1x.w", "h.1"), [r"h\.1 -> one"])
    assert list(got) == ["one.w", "h.10.w", "h.1x.w", "one"]
    got = dslc.rename_weights(_w("model.layers.3.self_attn.q_proj.bias"),
                              [r"model\.layers\.(\d+)\.self_attn\.(\w)_proj -> layers.\1.attn.\2"])
    assert list(got) == ["layers.3.attn.q.bias"]


def test_an_empty_replacement_drops_the_keys_and_a_dropped_nan_is_not_refused(tmp_path):
    safetensors = pytest.importorskip("safetensors.numpy")
    weights = {"dense.weight": np.ones((3, 4), np.float32),
               "rotary.inv_freq": np.full(2, np.nan, np.float32),
               "position_ids": np.arange(4)[None]}
    safetensors.save_file(weights, tmp_path / "w.safetensors")
    with pytest.raises(dslc.CheckpointError, match=r"NaN or inf in rotary\.inv_freq "):
        dslc.read_weights(tmp_path / "w.safetensors")
    got = dslc.read_weights(tmp_path / "w.safetensors",
                            rename=["(.*)\\.inv_freq ->", ("position_ids", None), "dense -> d"])
    assert list(got) == ["d.weight"]
    with pytest.raises(dslc.CheckpointError, match=r"NaN or inf in rotary\.inv_freq "):
        dslc.read_weights(tmp_path / "w.safetensors", rename=[r"rotary -> r", "position_ids ->"])


def test_t_transposes_numpy_arrays_and_torch_tensors_of_rank_2_only():
    w = _w("c.weight")["c.weight"]
    got = dslc.rename_weights({"c.weight": w, "t.weight": torch.from_numpy(w)},
                              [r"c -> d:T", r"t\.weight -> u:T"])
    np.testing.assert_array_equal(got["d.weight"], w.T)
    assert got["d.weight"].flags.c_contiguous
    assert torch.equal(got["u"], torch.from_numpy(w).T) and got["u"].is_contiguous()
    with pytest.raises(RenameError, match=r"rule 1: `:T` transposes a 2-D tensor; `c.bias` is \[3\]"):
        dslc.rename_weights({"c.bias": np.zeros(3, np.float32)}, ["c -> d:T"])


def test_two_keys_renamed_onto_one_name_are_an_error_naming_both():
    with pytest.raises(RenameError, match=r"`a.w` \(rule 1\) and `b.w` \(rule 2\) are both "
                                          r"renamed to `c.w`"):
        dslc.rename_weights(_w("a.w", "b.w"), ["a -> c", "b -> c"])
    with pytest.raises(RenameError, match=r"`c.w` \(kept\) and `a.w` \(rule 1\) are both"):
        dslc.rename_weights(_w("c.w", "a.w"), ["a -> c"])
    with pytest.raises(RenameError, match=r"renamed to `x.w` \(and 1 more names twice\)"):
        dslc.rename_weights(_w("h.0.w", "h.1.w", "h.2.w"), [r"h\.\d+ -> x"])


def test_a_rule_that_matches_nothing_is_a_warning():
    with pytest.warns(RenameWarning, match=r"rule 2: the rule `h\\\.\(\\d\+\)\\\.mpl -> m` "
                                           r"matched no key \(a typo\?\)"):
        got = dslc.rename_weights(_w("h.0.mlp.w"), [r"h -> g", r"h\.(\d+)\.mpl -> m"])
    assert list(got) == ["g.0.mlp.w"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dslc.rename_weights(_w("a"), [r"a -> b"])


def test_a_rules_file_takes_comments_and_blank_lines_and_locates_its_errors(tmp_path):
    rules = tmp_path / "r.rename"
    rules.write_text("# a comment\n\n  a -> b   # trailing\nc\\.(d) -> e.\\1:T\nf ->\n")
    got = parse_rules(rules)
    assert [(r.pattern, r.replacement, r.transpose, r.where) for r in got] == [
        ("a", "b", False, f"{rules}:3"), (r"c\.(d)", r"e.\1", True, f"{rules}:4"),
        ("f", None, False, f"{rules}:5")]
    for text, where, why in [
            ("a -> b\n  h.(\\d+ -> x\n", ":2:5", "bad pattern `h.(\\d+`: missing ), unterminated subpattern"),
            ("a b\n", ":1:1", "a rename rule is `REGEX -> REPLACEMENT`"),
            ("   -> b\n", ":1:4", "the rule `-> b` has no pattern before `->`"),
            ("h.(\\d+) ->  x.\\2\n", ":1:13", "bad replacement `x.\\2` for `h.(\\d+)`: invalid group reference 2"),
            ("h.(?P<i>\\d+) -> x.\\g<j>\n", ":1:17", "bad replacement `x.\\g<j>`"),
            ("a -> b c\n", ":1:6", "the replacement `b c` holds a space"),
            ("a -> :T\n", ":1:6", "`:T` transposes a renamed tensor; one dropped takes none")]:
        rules.write_text(text)
        with pytest.raises(RenameError) as e:
            parse_rules(rules)
        assert str(e.value).startswith(f"{rules}{where}: {why}"), str(e.value)


def test_rules_from_python_strings_pairs_and_bad_values():
    text = parse_rules("a -> b\n\n# c\nd -> e:T")
    assert [(r.pattern, r.where) for r in text] == [("a", "line 1"), ("d", "line 4")]
    pairs = parse_rules([("x", "y:T"), ("z", ""), "u -> v"])
    assert [(r.replacement, r.transpose, r.where) for r in pairs] == [
        ("y", True, "rule 1"), (None, False, "rule 2"), ("v", False, "rule 3")]
    with pytest.raises(RenameError, match=r"rule 1: a rename rule is a `REGEX -> REPLACEMENT` "
                                          r"string or a \(pattern, replacement\) pair, got 3"):
        parse_rules([3])


DENSE = "model M {\n    input x: f32[N, 4]\n    output y = x -> dense(3)\n}\n"


def test_rename_flags_need_weights(capsys, tmp_path):
    (tmp_path / "m.dl").write_text(DENSE)
    for argv in (["compile", tmp_path / "m.dl", "--target", "onnx", "--rename", "a -> b"],
                 ["run", tmp_path / "m.dl", "--rename-file", tmp_path / "r"]):
        code, _, err = cli(capsys, *argv)
        assert code == 2 and "renames the keys of --weights FILE: give one" in err


def test_a_rules_file_that_cannot_be_read_is_one_line(capsys, tmp_path):
    from safetensors.numpy import save_file
    (tmp_path / "m.dl").write_text(DENSE)
    save_file(_w("dense_1.weight", shape=(3, 4)), tmp_path / "w.safetensors")
    (tmp_path / "latin1.rename").write_bytes("caf\xe9 -> x\n".encode("latin-1"))
    for name, why in (("none.rename", "No such file or directory"),
                      ("latin1.rename", "not UTF-8 text (invalid continuation byte at byte 3)")):
        code, _, err = cli(capsys, "compile", tmp_path / "m.dl", "--target", "onnx", "--weights",
                           tmp_path / "w.safetensors", "--rename-file", tmp_path / name)
        assert code == 2 and err.strip() == f"dslc: cannot read '{tmp_path / name}': {why}"


# ---- safetensors dtypes, as the other formats take them ----




@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_f16_bf16_and_f64_weights_are_cast_to_the_models_dtype(tmp_path, dtype):
    from safetensors.torch import save_file
    model = dslc.load(DENSE).models["M"]
    state = {k: (v * 3.1).to(dtype) for k, v in model.to_torch().state_dict().items()}
    save_file(state, tmp_path / "w.safetensors")
    weights = dslc.read_weights(tmp_path / "w.safetensors")
    want = state["dense_1.weight"].float().numpy()
    got = model.to_torch(weights=weights).state_dict()["dense_1.weight"].numpy()
    np.testing.assert_array_equal(got, want)
    from onnx import numpy_helper
    (init,) = [t for t in model.to_onnx(weights=weights).graph.initializer if t.name == "dense_1.weight"]
    np.testing.assert_array_equal(numpy_helper.to_array(init), want)


def test_an_integer_weight_is_listed_as_not_floating_point_as_from_an_npz(tmp_path):
    from safetensors.numpy import save_file
    model = dslc.load(DENSE).models["M"]
    ints = {"dense_1.weight": np.ones((3, 4), np.int64), "dense_1.bias": np.zeros(3, np.float32)}
    save_file(ints, tmp_path / "w.safetensors")
    np.savez(tmp_path / "w.npz", **ints)
    for name in ("w.safetensors", "w.npz"):
        with pytest.raises(WeightsError, match=r"1 not floating-point: dense_1.weight \(int64\)"):
            model.to_onnx(weights=dslc.read_weights(tmp_path / name))


def test_a_folder_holds_one_checkpoint(tmp_path):
    from safetensors.numpy import save_file
    save_file(_w("a"), tmp_path / "weights.safetensors")
    assert list(dslc.read_weights(tmp_path)) == ["a"]
    torch.save({"b": torch.zeros(2)}, tmp_path / "pytorch_model.bin")     # save_pretrained's
    assert list(dslc.read_weights(tmp_path)) == ["b"]                       # names come first
    (tmp_path / "pytorch_model.bin").unlink()
    save_file(_w("c"), tmp_path / "other.safetensors")
    with pytest.raises(dslc.CheckpointError, match=r"a folder of weights holds model.safetensors.index"
                                                   r".json or model.safetensors .*; it has "
                                                   r"other.safetensors, weights.safetensors"):
        dslc.read_weights(tmp_path)
