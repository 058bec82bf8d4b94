"""What the machine can do: CPU facts, native bfloat16, and the precision ``"auto"`` resolves to.

The same run trains about 1.5-2 times faster in ``mixed_bfloat16`` on a CPU with native
bfloat16 arithmetic (AVX512-BF16 or AMX-BF16, which TensorFlow's oneDNN kernels use) and about
five times *slower* on a CPU without it, where every bfloat16 operation is emulated. So the
precision is a property of the machine as much as of the experiment: ``TrainConfig.precision =
"auto"`` (the presets' default) picks it here, and every run record stores what it resolved to
and the CPU facts that decided it (:func:`cpu_info`).

Rules of :func:`resolve_precision` for ``"auto"``:

* a GPU (JAX backend) of compute capability 8.0 or newer (Ampere, Hopper): ``mixed_bfloat16``;
* TensorFlow on a CPU with ``avx512_bf16`` or ``amx_bf16``: ``mixed_bfloat16``;
* anything else, including JAX on any CPU (XLA's CPU backend does not use the bfloat16
  instructions for convolutions: measured no faster), ``float32``.
"""

from __future__ import annotations

import functools
import os
import platform
import sys
from pathlib import Path

__all__ = ["ISA_FLAGS", "cpu_info", "native_bfloat16", "accelerator", "resolve_precision"]

#: The ISA flags that decide speed (and precision) for this package, in the order reported.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")

_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def _parse_cpuinfo(text: str) -> dict:
    """The first processor block of a ``/proc/cpuinfo`` text as a dict of strings."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def _int_or_none(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def cpu_info(cpuinfo_text: str | None = None) -> dict:
    """Facts about this CPU that decide training speed, for records and benchmarks.

    Parameters
    ----------
    cpuinfo_text : str, optional
        The text of ``/proc/cpuinfo`` (default: read it; on a system without one the model
        comes from :mod:`platform` and the flags are empty).

    Returns
    -------
    info : dict
        ``model`` (model name), ``vendor``, ``family``, ``model_number``, ``stepping`` (int or
        None), ``logical_cpus`` (int), ``flags`` (the :data:`ISA_FLAGS` present, in that
        order) and ``native_bfloat16`` (bool, see :func:`native_bfloat16`).

    Examples
    --------
    >>> info = cpu_info("model name : Test CPU\\ncpu family : 25\\nmodel : 17\\nflags : fpu avx2 avx512f avx512_bf16\\n")
    >>> info["model"], info["family"], info["model_number"], info["flags"], info["native_bfloat16"]
    ('Test CPU', 25, 17, ['avx2', 'avx512f', 'avx512_bf16'], True)
    """
    if cpuinfo_text is None:
        return dict(_cpu_info_cached())
    fields = _parse_cpuinfo(cpuinfo_text)
    present = set(fields.get("flags", "").split())
    flags = [f for f in ISA_FLAGS if f in present]
    model = fields.get("model name") or platform.processor() or platform.machine()
    return {
        "model": model,
        "vendor": fields.get("vendor_id"),
        "family": _int_or_none(fields.get("cpu family")),
        "model_number": _int_or_none(fields.get("model")),
        "stepping": _int_or_none(fields.get("stepping")),
        "logical_cpus": os.cpu_count(),
        "flags": flags,
        "native_bfloat16": any(f in flags for f in _BF16_FLAGS),
    }


@functools.cache
def _cpu_info_cached() -> tuple:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    return tuple(cpu_info(text).items())


def native_bfloat16(info: dict | None = None) -> bool:
    """Whether the CPU computes bfloat16 natively (``avx512_bf16`` or ``amx_bf16``).

    Parameters
    ----------
    info : dict, optional
        :func:`cpu_info`'s result (default: this machine's).
    """
    info = cpu_info() if info is None else info
    return any(f in info.get("flags", ()) for f in _BF16_FLAGS)


def accelerator(backend: str | None = None) -> dict | None:
    """The first accelerator Keras trains on, or None on a CPU.

    Only the JAX backend is asked (the TensorFlow this package installs is CPU-only); JAX is
    not imported here if the process has not imported it already.

    Returns
    -------
    dict or None
        ``platform`` (e.g. ``"gpu"``), ``kind`` (e.g. ``"NVIDIA H200"``), ``count`` and
        ``compute_capability`` (a string such as ``"9.0"``, or None when JAX does not say).
    """
    if backend is None and "keras" in sys.modules:
        backend = sys.modules["keras"].backend.backend()
    if backend != "jax" or "jax" not in sys.modules:
        return None
    devices = [d for d in sys.modules["jax"].devices() if d.platform != "cpu"]
    if not devices:
        return None
    first = devices[0]
    return {
        "platform": first.platform,
        "kind": getattr(first, "device_kind", first.platform),
        "count": len(devices),
        "compute_capability": getattr(first, "compute_capability", None),
    }


def _gpu_has_bfloat16(acc: dict) -> bool:
    cc = acc.get("compute_capability")
    if cc is None:
        return acc.get("platform") == "tpu"
    try:
        return float(str(cc).split()[0]) >= 8.0
    except ValueError:
        return False


def resolve_precision(precision: str, *, backend: str | None = None, cpu: dict | None = None,
                      accel: dict | None | str = "detect") -> dict:
    """The Keras dtype policy a training will use, and why.

    Parameters
    ----------
    precision : {"auto", "float32", "mixed_bfloat16", "mixed_float16"}
        ``TrainConfig.precision``. Explicit policies are returned unchanged.
    backend : str, optional
        Keras backend (default: the loaded one, else ``KERAS_BACKEND``, else "tensorflow").
    cpu : dict, optional
        :func:`cpu_info`'s result (default: this machine's); pass a faked one in tests.
    accel : dict or None, optional
        :func:`accelerator`'s result; the default ``"detect"`` asks the backend, None means
        no accelerator.

    Returns
    -------
    dict
        ``precision`` (the resolved policy), ``requested`` and ``reason`` (one sentence).

    Raises
    ------
    ValueError
        For an unknown precision.
    """
    allowed = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
    if precision not in allowed:
        raise ValueError(f"precision must be one of {', '.join(map(repr, allowed))}. Received: precision={precision!r}")
    if precision != "auto":
        return {"precision": precision, "requested": precision, "reason": "set explicitly"}
    if backend is None:
        backend = sys.modules["keras"].backend.backend() if "keras" in sys.modules else os.environ.get("KERAS_BACKEND", "tensorflow")
    cpu = cpu_info() if cpu is None else cpu
    acc = accelerator(backend) if accel == "detect" else accel
    if acc is not None:
        if _gpu_has_bfloat16(acc):
            choice, why = "mixed_bfloat16", f"{acc['kind']} computes bfloat16 natively"
        else:
            choice, why = "float32", f"{acc['kind']} has no native bfloat16"
    elif backend == "tensorflow" and native_bfloat16(cpu):
        have = "/".join(f for f in _BF16_FLAGS if f in cpu.get("flags", ()))
        choice, why = "mixed_bfloat16", f"the CPU has {have} (oneDNN uses it)"
    elif backend == "tensorflow":
        choice, why = "float32", "the CPU has neither avx512_bf16 nor amx_bf16 (bfloat16 would be emulated)"
    else:
        choice, why = "float32", f"Keras {backend} on a CPU does not use the CPU's bfloat16 instructions"
    return {"precision": choice, "requested": "auto", "reason": why}
