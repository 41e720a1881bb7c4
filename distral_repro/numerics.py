"""The numeric mode: the same bytes on any x86-64 CPU with AVX2 (docs/numerics.md).

Three layers under torch pick their instruction set from the CPU on their own: ATen's
vectorised kernels, MKL (BLAS behind mm, bmm, Linear, LSTMCell) and oneDNN (convolutions).
Two CPUs of different types therefore compute the same run with different roundings, and the
runs drift apart. The ``portable`` mode (the default) caps all three at AVX2 through their
documented environment variables, turns NumPy's AVX-512 kernels off, and must be set before
torch runs its first operation: importing ``distral_repro`` does it (:func:`configure`), so
``train``, the fork server, the benchmarks and the analysis all run under it. The one
operation that still differed between CPUs under the caps, float32 ``torch.sqrt`` (not
correctly rounded: it uses the CPU's approximate instructions), is avoided on the training
path (``optim.exact_sqrt``).

``DISTRAL_NUMERICS=native`` turns the caps off (every layer uses the best instructions of the
CPU: faster on AVX-512 hosts, identical only on the same CPU type). The mode is recorded in
every run's ``summary.json`` and checkpoint; a run is never resumed under another mode.

This module imports neither torch nor NumPy at import time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ENV_VAR = "DISTRAL_NUMERICS"
PORTABLE, NATIVE = "portable", "native"
MODES = (PORTABLE, NATIVE)

#: What the portable mode sets before torch (and NumPy) initialise.
PORTABLE_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",  # ATen's kernels: AVX2, not AVX-512
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (conv, nn.LSTM)
    # MKL's conditional numerical reproducibility: its AVX2 code path on every CPU that has AVX2,
    # strict (results independent of memory alignment). COMPATIBLE (the SSE2 path) cost 1.5x.
    "MKL_CBWR": "AVX2,STRICT",
    # NumPy's dispatched AVX-512 kernels (exp, log, sorting, ...); those absent on a CPU are ignored.
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
}
#: Set beside PORTABLE_ENV, so that a child process asked for the native mode drops the caps it inherited.
MARKER = "DISTRAL_NUMERICS_CAPS_SET"
#: The CPU features the portable mode needs to give the published bytes.
REQUIRED_CPU_FLAGS = ("avx2", "fma")

_configured: str | None = None


class NumericsError(ValueError):
    """A numeric mode that cannot be used (unknown name, or one run under another)."""


def requested_mode(environ: dict | None = None) -> str:
    """The mode that `environ` (default os.environ) asks for; NumericsError for an unknown name."""
    value = (environ if environ is not None else os.environ).get(ENV_VAR, PORTABLE).strip().lower() or PORTABLE
    if value not in MODES:
        raise NumericsError(f"{ENV_VAR}={value!r} is not a numeric mode; use one of {', '.join(MODES)}")
    return value


def configure() -> str:
    """Set the requested mode's environment (once per process, before torch computes anything).

    An unknown mode name falls back to portable here (importing the package must not fail);
    :func:`check_requested` makes the training command refuse it with one line.
    """
    global _configured
    if _configured is not None:
        return _configured
    try:
        mode = requested_mode()
    except NumericsError:
        mode = PORTABLE
    if mode == PORTABLE:
        os.environ.update(PORTABLE_ENV, **{MARKER: "1"})
    elif os.environ.pop(MARKER, None):  # inherited from a portable parent, not the user's own settings
        for key, value in PORTABLE_ENV.items():
            if os.environ.get(key) == value:
                del os.environ[key]
    _configured = mode
    return mode


def active_mode() -> str:
    return configure()


def check_requested() -> None:
    """Raise NumericsError for an unknown $DISTRAL_NUMERICS, or one that differs from this process's mode."""
    mode = requested_mode()
    if mode != active_mode():
        raise NumericsError(
            f"{ENV_VAR}={mode} was set after distral_repro was imported in {active_mode()} mode; "
            "set it before starting Python"
        )


def serves(environ: dict) -> bool:
    """Whether this process's mode is the one `environ` asks for (the fork server's test per job)."""
    try:
        return requested_mode(environ) == active_mode()
    except NumericsError:
        return False


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The feature flags of the first CPU in /proc/cpuinfo (empty where there is none)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    match = re.search(r"^flags\s*:(.*)$", cpuinfo, flags=re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def host_warning(flags: set[str] | None = None, machine: str | None = None) -> str | None:
    """One line if this host cannot give the portable mode's bytes, else None."""
    import platform

    machine = machine or platform.machine()
    if machine not in ("x86_64", "AMD64"):
        return (f"this {machine} CPU is not x86-64: runs will not match the published files byte for byte "
                "(the portable mode promises x86-64 CPUs with AVX2 only); training goes on")
    flags = cpu_flags() if flags is None else flags
    missing = [f for f in REQUIRED_CPU_FLAGS if f not in flags]
    if flags and missing:
        return (f"this CPU lacks {', '.join(missing).upper()}: progress.csv, pi0_eval.csv and checkpoints "
                "will not match the published files byte for byte (the portable mode computes with AVX2); "
                "training goes on")
    return None


def torch_versions() -> dict:
    """torch's version and those of the libraries that compute for it (from torch.__config__.show())."""
    import torch

    shown = torch.__config__.show()

    def find(pattern: str) -> str | None:
        match = re.search(pattern, shown)
        return match.group(1) if match else None

    return {
        "torch": torch.__version__,
        "mkl": find(r"Math Kernel Library Version ([^\s]+)"),
        "onednn": find(r"MKL-DNN (v[^\s]+)"),
        "openmp": find(r"OpenMP (\d+)"),
    }


def describe(threads: int) -> dict:
    """What a run's bytes depend on besides its config: recorded in summary.json and the checkpoint."""
    import numpy
    import torch

    return {
        "mode": active_mode(),
        "env": {key: os.environ.get(key) for key in PORTABLE_ENV},
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": threads,
        "mkldnn_enabled": torch.backends.mkldnn.enabled,
        "numpy": numpy.__version__,
        **torch_versions(),
    }


def check_active() -> None:
    """NumericsError if torch started computing before the portable mode was set (it would not hold)."""
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    if active_mode() == PORTABLE and "avx2" in cpu_flags() and capability != "AVX2":
        raise NumericsError(
            f"torch computes with {capability} although the portable mode caps it at AVX2: torch ran an "
            "operation before distral_repro was imported; import distral_repro first"
        )
