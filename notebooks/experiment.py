# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # One glandseg experiment
#
# Trains LinkNet for one configuration of the paper's grid, predicts Test A and Test B,
# post-processes and evaluates with the GlaS metrics, and writes `record.json` into `out_dir`.
# Run it with papermill (`glandseg grid` does), e.g.
#
# ```bash
# papermill notebooks/experiment.ipynb out.ipynb -p preset workshop -p loss L3 -p seed 0
# ```
#
# Every stage is skipped when its output exists, so rerunning after an interruption finishes
# the work.

# %% tags=["parameters"]
preset = "smoke"
input = "hematoxylin"
unsharp = False
loss = "L3"
deep_supervision = True
seed = 0
epochs = None
data_root = None
out_dir = None
verbose = 2  # one line per epoch: a per-step progress bar fills an executed notebook with thousands of outputs
devices = None  # 2, 4 or "all": split each batch over that many devices (JAX backend only)
loader_threads = 1  # threads making the training crops: raise on a GPU (the results do not change)
jit_compile = "auto"  # XLA for the training steps (faster or slower depending on the CPU: see `make bench`)
precision = None  # None: the preset's ("auto": bfloat16 where the hardware computes it natively); or "float32", "mixed_bfloat16"
curve = False  # True: test the network at log-spaced epochs on Test A and B (curve.json, a learning curve)
overrides = None  # {"section.field": value}: change the preset's protocol, e.g. {"train.batch_size": 4}
tag = None  # names a changed protocol's run folder (default out_dir results/<preset>/h-L3-s0-<tag>)

# %%
import json

from glandseg import runner
from glandseg.config import preset_config

config = preset_config(
    preset, input=input, unsharp=unsharp, loss=loss, deep_supervision=deep_supervision, seed=seed, epochs=epochs,
    precision=precision,
).with_overrides(overrides)
if out_dir is None:
    out_dir = f"results/{preset}/{runner.run_id(config, tag)}"
print(config.to_json(indent=1))

# %%
record = runner.run_experiment(
    config, out_dir, root=data_root, verbose=verbose, devices=devices, loader_threads=loader_threads,
    jit_compile=jit_compile, curve=curve, tag=tag,
)
print(f"trained in {record['training'].get('precision', config.train.precision)}: "
      f"{record['training'].get('precision_reason', 'set in the configuration')}")

# %% [markdown]
# ## Metrics (pooled over each test part, the challenge's figures)

# %%
from glandseg.report import results_figures

results_figures.metrics_table(record)

# %% [markdown]
# ## Training curve

# %%
results_figures.training_curve(f"{out_dir}/history.csv");

# %% [markdown]
# ## A few predictions

# %%
# two overlays only: they are derived from GlaS images, and executed notebooks are committed
results_figures.prediction_overlays(record, out_dir, root=data_root, n=2);
