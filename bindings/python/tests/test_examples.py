"""The examples: the Python training loop reaches exactly what the library's
Trainer (and vbpr-train) reach; the PyTorch example runs; the legacy swap
diff is current."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

import vbpr

from conftest import data_dir, needs_mf, source_root

EXAMPLES = source_root() / "examples"


def load_example(name):
    path = EXAMPLES / "python" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vbpr_train_bin():
    path = os.environ.get("VBPR_TRAIN_BIN") or shutil.which("vbpr-train")
    if not path or not os.path.exists(path):
        msg = "vbpr-train not found (set VBPR_TRAIN_BIN)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@needs_mf
def test_python_loop_equals_the_trainer():
    """On synthetic data, no download needed: identical losses and metrics."""
    ex = load_example("train_ml100k")
    train, test = vbpr.synthetic(num_users=200, num_items=300, mean_preferences=20, seed=1)
    cfg = ex.library_defaults()
    cfg.update(dim=16, batch_size=256, lr=0.01)
    history = ex.train(train, test, cfg, epochs=3, eval_every=1, ks=[10, 20])
    tr = vbpr.Trainer(train, test, ks=[10, 20], dim=16, batch=256, lr=0.01)
    reference = tr.fit(3, eval_every=1)
    assert len(history) == len(reference) == 3
    for ours, theirs in zip(history, reference):
        assert ours["loss"] == theirs["loss"]
        for m in ex.METRICS:
            assert ours[m] == theirs[m], (ours["epoch"], m)


@needs_mf
def test_ml100k_example_matches_vbpr_train(tmp_path):
    """Three epochs of MF + Variational BPR on MovieLens 100K, with the
    library's default settings: the Python loop and vbpr-train agree on
    every metric of every epoch."""
    data = data_dir("ml-100k")
    exe = vbpr_train_bin()
    ref_json, ours_json = tmp_path / "vbpr-train.json", tmp_path / "python.json"
    subprocess.run([exe, "--train", str(data / "train.tsv"), "--test", str(data / "test.tsv"),
                    "--items-from", str(data / "ratings.tsv"), "--epochs", "3",
                    "--eval-every", "1", "--k", "10,20", "--seed", "42", "--quiet",
                    "--json", str(ref_json)], check=True, timeout=300)
    ex = load_example("train_ml100k")
    assert ex.main([str(data), "--epochs", "3", "--eval-every", "1", "--k", "10,20",
                    "--seed", "42", "--quiet", "--json", str(ours_json)]) == 0
    ref = json.loads(ref_json.read_text())["runs"][0]
    ours = json.loads(ours_json.read_text())["history"]
    assert [h["epoch"] for h in ref["history"]] == [h["epoch"] for h in ours] == [1, 2, 3]
    assert ours[-1]["loss"] == pytest.approx(ref["last_loss"], abs=1e-6)
    for r, o in zip(ref["history"], ours):
        for m in ex.METRICS:
            for k in ("10", "20"):
                # vbpr-train writes 6 decimals
                assert o[m][k] == pytest.approx(r[m][k], abs=6e-7), (r["epoch"], m, k)
    assert ours[-1]["recall"]["20"] > 0.15     # and the model did learn


def test_torch_example_runs():
    pytest.importorskip("torch")
    env = dict(os.environ)
    # the vbpr package these tests use (the source tree's, or an installed one)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(vbpr.__file__)), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "python" / "torch_mf.py"), "--synthetic",
         "--epochs", "2", "--eval-every", "1", "--dim", "16"],
        capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2 and all("recall@20" in line for line in lines)
    recall = float(lines[-1].split("recall@20")[1].split()[0])
    assert recall > 0.05        # random ranking gives about 0.013


def test_legacy_swap_diff_is_current():
    if not shutil.which("diff"):
        pytest.skip("no diff program")
    out = subprocess.run(["sh", str(EXAMPLES / "legacy" / "check_swap_diff.sh")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_doc_shows_the_current_swap_diff():
    doc = (source_root() / "doc" / "python.md").read_text()
    shown = doc.split("```diff\n", 1)[1].split("```", 1)[0]
    diff = (EXAMPLES / "legacy" / "swap.diff").read_text()
    assert shown == "".join(diff.splitlines(True)[2:]), \
        "doc/python.md shows an old examples/legacy/swap.diff"
