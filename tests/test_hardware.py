"""CPU facts and the precision "auto" resolves to, on faked CPUs and accelerators."""

import pytest

from glandseg import hardware, results

# Trimmed /proc/cpuinfo blocks of the two kinds of 2-core machine this project has met.
AVX2_EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 49
model name\t: AMD EPYC 7B12
stepping\t: 0
flags\t\t: fpu sse sse2 avx fma avx2 bmi2

processor\t: 1
model name\t: SECOND BLOCK IGNORED
"""
GENOA_BF16 = """vendor_id : AuthenticAMD
cpu family : 25
model : 17
model name : AMD EPYC 9B14
flags : fpu avx2 fma avx512f avx512_vnni avx512_bf16
"""
SAPPHIRE_AMX = """vendor_id : GenuineIntel
cpu family : 6
model : 143
model name : Intel(R) Xeon(R) Platinum 8481C
flags : avx2 fma avx512f avx512_fp16 amx_tile amx_bf16
"""


def test_cpu_info_parses_the_first_block():
    info = hardware.cpu_info(AVX2_EPYC)
    assert info["model"] == "AMD EPYC 7B12"
    assert (info["vendor"], info["family"], info["model_number"], info["stepping"]) == ("AuthenticAMD", 23, 49, 0)
    assert info["flags"] == ["avx2", "fma"]  # only the flags that matter, in ISA_FLAGS order
    assert info["native_bfloat16"] is False


@pytest.mark.parametrize("text, native", [(AVX2_EPYC, False), (GENOA_BF16, True), (SAPPHIRE_AMX, True), ("", False)])
def test_native_bfloat16_needs_avx512_bf16_or_amx_bf16(text, native):
    info = hardware.cpu_info(text)
    assert hardware.native_bfloat16(info) is native
    assert info["native_bfloat16"] is native


def test_cpu_info_without_cpuinfo_still_names_the_machine():
    info = hardware.cpu_info("")
    assert info["model"] and info["flags"] == [] and info["family"] is None


@pytest.mark.parametrize(
    "text, backend, expected",
    [
        (AVX2_EPYC, "tensorflow", "float32"),
        (GENOA_BF16, "tensorflow", "mixed_bfloat16"),
        (SAPPHIRE_AMX, "tensorflow", "mixed_bfloat16"),
        (SAPPHIRE_AMX, "jax", "float32"),  # XLA on a CPU does not use the bfloat16 units
        (AVX2_EPYC, "jax", "float32"),
    ],
)
def test_auto_on_a_cpu(text, backend, expected):
    out = hardware.resolve_precision("auto", backend=backend, cpu=hardware.cpu_info(text), accel=None)
    assert out["precision"] == expected and out["requested"] == "auto"
    assert out["reason"]


@pytest.mark.parametrize("cc, expected", [("9.0", "mixed_bfloat16"), ("8.0", "mixed_bfloat16"), ("7.5", "float32")])
def test_auto_on_a_gpu_follows_its_compute_capability(cc, expected):
    gpu = {"platform": "gpu", "kind": "NVIDIA test", "count": 1, "compute_capability": cc}
    out = hardware.resolve_precision("auto", backend="jax", cpu=hardware.cpu_info(AVX2_EPYC), accel=gpu)
    assert out["precision"] == expected


@pytest.mark.parametrize("explicit", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_explicit_precisions_are_kept(explicit):
    out = hardware.resolve_precision(explicit, backend="tensorflow", cpu=hardware.cpu_info(AVX2_EPYC), accel=None)
    assert out == {"precision": explicit, "requested": explicit, "reason": "set explicitly"}


def test_unknown_precision_is_named():
    with pytest.raises(ValueError, match="precision='bf16'"):
        hardware.resolve_precision("bf16")


def test_provenance_states_the_cpu_facts():
    prov = results.provenance()
    assert prov["cpu"] == hardware.cpu_info()
    assert set(prov["cpu"]) >= {"model", "family", "model_number", "flags", "native_bfloat16"}
    assert set(prov["cpu"]["flags"]) <= set(hardware.ISA_FLAGS)
