"""The portable numeric mode: the same bytes on any x86-64 CPU with AVX2.

The golden fingerprints (tests/golden/numerics.json) were written on one CPU type; the test
suite checks them on whatever CPU it runs on, natively, and under QEMU's emulation of another
CPU (`qemu-x86_64 -cpu max`, installed by .ci/install_qemu.sh), so a host of another type that
computes different bytes is caught.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from distral_repro import fingerprint, numerics, train

GOLDEN = Path(__file__).parent / "golden" / "numerics.json"
TINY = ["--preset", "smoke", "--steps-per-task", "100", "--workers", "2", "--unroll", "5", "--threads", "1"]
HAS_AVX2 = "avx2" in numerics.cpu_flags()
#: The runs checked under QEMU (test_golden_fingerprints_on_an_emulated_cpu says why these).
EMULATED_RUNS = ("maze/A3C", "maze/KL+ent_2col", "lasertag/KL+ent_2col")


def _train_cli(out, **env):
    cmd = [sys.executable, "-m", "distral_repro.train", "--algo", "KL+ent_2col", "--env", "maze", "--beta", "100",
           "--lr", "2e-3", "--seed", "0", "--out", str(out), "--quiet", *TINY]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})


# ---------------------------------------------------------------- the mode and its switch


def test_requested_mode_default_switch_and_bad_name():
    assert numerics.requested_mode({}) == "portable"
    assert numerics.requested_mode({"DISTRAL_NUMERICS": "Native "}) == "native"
    with pytest.raises(numerics.NumericsError, match="DISTRAL_NUMERICS='fast' is not a numeric mode; use one of portable, native"):
        numerics.requested_mode({"DISTRAL_NUMERICS": "fast"})
    assert numerics.serves({}) and not numerics.serves({"DISTRAL_NUMERICS": "native"})
    assert not numerics.serves({"DISTRAL_NUMERICS": "fast"})


def test_this_process_computes_in_the_portable_mode():
    """conftest imports distral_repro first: the caps are set before torch computes."""
    assert numerics.active_mode() == "portable"
    assert {k: os.environ[k] for k in numerics.PORTABLE_ENV} == numerics.PORTABLE_ENV
    if HAS_AVX2:
        assert torch.backends.cpu.get_cpu_capability() == "AVX2"
    numerics.check_active()


def test_cpu_flags_and_the_host_warning():
    cpuinfo = "processor\t: 0\nflags\t\t: fpu sse4_2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n"
    assert numerics.cpu_flags(cpuinfo) == {"fpu", "sse4_2", "avx", "avx2", "fma"}
    assert numerics.host_warning({"avx2", "fma", "avx512f"}, "x86_64") is None
    old = numerics.host_warning({"sse4_2", "avx"}, "x86_64")
    assert "lacks AVX2, FMA" in old and "progress.csv, pi0_eval.csv and checkpoints" in old and "\n" not in old
    assert "not x86-64" in numerics.host_warning({"asimd"}, "aarch64")


def test_torch_versions_are_read_from_its_config():
    versions = numerics.torch_versions()
    assert versions["torch"] == torch.__version__
    assert versions["mkl"] and versions["onednn"].startswith("v")


# ---------------------------------------------------------------- runs record and respect the mode


def test_summary_records_the_numeric_mode(tmp_path):
    out = tmp_path / "run"
    assert train.main(["--algo", "A3C", "--env", "maze", "--beta", "100", "--lr", "2e-3", "--seed", "0",
                       "--out", str(out), "--quiet", *TINY]) == 0
    recorded = json.loads((out / "summary.json").read_text())["numerics"]
    assert recorded["mode"] == "portable" and recorded["env"] == numerics.PORTABLE_ENV
    assert recorded["threads"] == 1 and recorded["torch"] == torch.__version__
    assert recorded["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_an_unknown_mode_is_refused_before_anything_is_written(tmp_path):
    done = _train_cli(tmp_path / "run", DISTRAL_NUMERICS="fast")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "DISTRAL_NUMERICS='fast' is not a numeric mode" in done.stderr
    assert not (tmp_path / "run").exists()


def test_a_checkpoint_of_another_mode_is_not_resumed(tmp_path):
    out = tmp_path / "run"
    config, _, _ = train.parse(["--algo", "KL+ent_2col", "--env", "maze", "--beta", "100", "--lr", "2e-3",
                                "--seed", "0", "--out", str(out), *TINY])
    from distral_repro.learner import Learner

    learner = Learner(config)
    learner.train_update()
    train.RunWriter(out, config, threads=1).checkpoint(learner)
    before = (out / "checkpoint.pt").read_bytes()
    done = _train_cli(out, DISTRAL_NUMERICS="native")
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "made in numeric mode portable, this process runs in native mode" in done.stderr
    assert "DISTRAL_NUMERICS=portable" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"] and (out / "checkpoint.pt").read_bytes() == before


def test_the_native_mode_trains_and_says_so(tmp_path):
    done = _train_cli(tmp_path / "run", DISTRAL_NUMERICS="native")
    assert done.returncode == 0, done.stderr
    recorded = json.loads((tmp_path / "run" / "summary.json").read_text())["numerics"]
    # started from this (portable) process: the caps it inherited are dropped
    assert recorded["mode"] == "native" and set(recorded["env"].values()) == {None}


# ---------------------------------------------------------------- the same bytes on another CPU


def test_fingerprint_differences_name_each_file():
    golden = {"maze/A3C": {"progress.csv": "a", "parameters": "b"}, "maze/KL_1col": {"progress.csv": "c"}}
    mine = {"maze/A3C": {"progress.csv": "a", "parameters": "x"}}
    assert fingerprint.differences(mine, golden) == ["maze/A3C parameters", "maze/KL_1col progress.csv"]
    assert fingerprint.differences(golden, golden) == []


@pytest.mark.skipif(not HAS_AVX2, reason="the golden fingerprints are promised on x86-64 CPUs with AVX2 only")
def test_golden_fingerprints_on_this_cpu():
    """Every algorithm, a few updates: progress.csv, pi0_eval.csv, parameters and optimiser state."""
    golden = json.loads(GOLDEN.read_text())["runs"]
    assert set(golden) == {f"{env}/{algo}" for env, algos in fingerprint.CASES for algo in algos}
    assert fingerprint.differences(fingerprint.fingerprints(), golden) == []


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("qemu-x86_64") is None,
                    reason="qemu-x86_64 is not installed (Debian package qemu-user; .ci/install_qemu.sh)")
def test_golden_fingerprints_on_an_emulated_cpu():
    """The same wheels on QEMU's emulated CPU (`-cpu max`: another vendor, model and approximations).

    Three of the eight runs, for CI time (emulation is about 20x slower): separate A3C (policy
    gradient and entropy alone), KL+ent_2col (every term of the objective, pi_0's evaluation) on
    maze and on laser tag. The other five use the same kernels with other coefficients; all
    eight were checked under QEMU when the golden file was written (docs/numerics.md)."""
    python = os.path.realpath(sys.executable)
    done = subprocess.run(["qemu-x86_64", "-cpu", "max", python, "-m", "distral_repro.fingerprint",
                           "--check", str(GOLDEN), "--runs", *EMULATED_RUNS],
                          capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "all 10 fingerprints match" in done.stdout, done.stdout


def test_checking_some_runs_compares_those_alone(tmp_path):
    golden = json.loads(GOLDEN.read_text())
    golden["runs"]["maze/KL_1col"]["parameters"] = "0" * 64  # a run not checked: not compared
    golden["runs"]["maze/A3C"]["optimizer"] = "0" * 64
    path = tmp_path / "golden.json"
    path.write_text(json.dumps(golden))
    done = subprocess.run([sys.executable, "-m", "distral_repro.fingerprint", "--check", str(path),
                           "--runs", "maze/A3C"], capture_output=True, text=True)
    assert done.returncode == 1 and "1 fingerprints differ" in done.stderr and "maze/A3C optimizer" in done.stderr
    refused = subprocess.run([sys.executable, "-m", "distral_repro.fingerprint", "--check", str(path),
                              "--runs", "maze/A4C"], capture_output=True, text=True)
    assert refused.returncode == 2 and "invalid choice: 'maze/A4C'" in refused.stderr


# ---------------------------------------------------------------- verifying a published run


def test_verify_reruns_a_run_and_compares_its_bytes(tmp_path, capsys):
    from distral_repro import verify

    out = tmp_path / "results" / "runs" / "maze" / "KL_2col" / "run"
    assert train.main(["--algo", "KL_2col", "--env", "maze", "--beta", "100", "--lr", "2e-3", "--seed", "3",
                       "--out", str(out), "--quiet", *TINY]) == 0
    assert verify.main([str(out)]) == 0
    printed = capsys.readouterr().out
    assert "progress.csv: identical" in printed and "pi0_eval.csv: identical" in printed
    assert "recorded numeric mode: portable, this process: portable" in printed

    import tarfile

    archive = tmp_path / "runs.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(out, arcname="results/runs/maze/KL_2col/run")
    assert verify.main(["--archive", str(archive), "results/runs/maze/KL_2col/run"]) == 0

    lines = (out / "progress.csv").read_text().splitlines()
    lines[3] = lines[3].replace(",", ",9", 1)
    (out / "progress.csv").write_text("\n".join(lines) + "\n")
    assert verify.main([str(out)]) == 1
    assert "progress.csv: differs, line 4:" in capsys.readouterr().out


def test_verify_refuses_what_is_not_a_run(tmp_path, capsys):
    from distral_repro import verify

    assert verify.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no summary.json: not a run directory" in err
    assert verify.main(["--archive", str(tmp_path / "none.tar.xz"), "x"]) == 2
    assert "cannot read archive" in capsys.readouterr().err
