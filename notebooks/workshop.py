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
# # The workshop notebook: segmenting glands with LinkNet
#
# In one sitting you will look at the GlaS images, prepare them as the paper does (the
# hematoxylin channel, optionally sharpened), see how training crops are made, build the
# network, train it, turn its output into separate glands and score them with the challenge's
# metrics. At the end your result stands beside the paper's Table 1 and beside what the rest of
# the class trained.
#
# Run the cells from top to bottom (Shift+Enter). Training is the one long step: the `workshop`
# preset aims at 15 minutes of training at most on a 2-core laptop (the table below
# says what the records measured on each kind of CPU). No time? Set `train_network = False`
# in the next cell: the notebook then loads a network that has already been trained.
#
# To run it without opening Jupyter (papermill sets the parameters):
#
# ```bash
# jupytext --to ipynb notebooks/workshop.py
# papermill notebooks/workshop.ipynb my-workshop.ipynb -p loss L1
# ```

# %% tags=["parameters"]
preset = "workshop"  # "workshop" for the class; "smoke" runs everything on tiny synthetic images in a minute
input = "hematoxylin"  # exercise 2: "rgb"
unsharp = False  # True: sharpen the H channel with unsharp masking before training
loss = "L3"  # exercise 1: "L1" or "L2" (the paper's three composite losses)
deep_supervision = True  # False: train without the coarse output
seed = 0  # each student can take a different seed: the spread between seeds is part of the lesson
train_network = True  # False: no time to train, load the network shipped with the kit
model_file = None  # a .keras file from `glandseg export` (default: the one in models/)
data_root = None  # the GlaS folder (default: GLANDSEG_DATA, or where `glandseg download` put it)
out_dir = None  # your run's folder (default: my-runs/<preset>/<run>); never the class's records
results_dir = None  # the class's records (default: results/ of the checkout)
verbose = 1  # 1: a progress bar per epoch; 2: one line per epoch (for papermill, whose outputs keep every update)

# %%
from pathlib import Path

import matplotlib.pyplot as plt

from glandseg import augment, data, hardware, inference, model, postprocess, preprocessing, results, runner, train
from glandseg.config import preset_config
from glandseg.report import data_figures, method_figures, results_figures, sensitivity, workshop
from glandseg.report.tables import Table, missing_data_note

config = preset_config(preset, input=input, unsharp=unsharp, loss=loss, deep_supervision=deep_supervision, seed=seed)
results_dir = Path(results_dir) if results_dir is not None else results.checkout_results()
records = results.load_records(results_dir) if results_dir.exists() else []
cpu = hardware.cpu_info()
label = results.config_label({"input": input, "unsharp": unsharp, "loss": loss, "deep_supervision": deep_supervision})
print(f"configuration {label}, preset {preset}, seed {seed}")
print(f"this computer: {cpu['model']}, {cpu['logical_cpus']} logical CPUs; "
      f"native bfloat16: {'yes' if hardware.native_bfloat16(cpu) else 'no'}")
workshop.timings_table(records, presets=(preset,), caption="How long training took in the records, per kind of CPU")

# %% [markdown]
# ## 1. The data
#
# GlaS holds 165 H&E-stained sections of colon tissue (85 for training, 60 in Test A,
# 20 in Test B), each with every gland outlined by a pathologist. The task is to find each gland
# as a separate object, not just the gland pixels: two glands that touch must come out as two.

# %%
if config.data == "glas" and data.find_data(data_root) is None:
    # Without GlaS everything below still runs, on synthetic tissue-like images.
    display(missing_data_note("this notebook uses synthetic images instead; its scores say nothing about the paper"))
    config = config.replace(data="synthetic")
train_samples = runner.load_samples(config, "train", data_root)
data_figures.annotation_montage(train_samples[:3]);

# %% [markdown]
# ## 2. Pre-processing: the hematoxylin channel and unsharp masking
#
# Hematoxylin stains nuclei blue-purple, and the glands are ringed by nuclei. The paper gives the
# network only this stain's channel, separated from the RGB image by colour deconvolution, and
# asks whether sharpening it (unsharp masking) helps. The images are resized to the preset's
# size before training.

# %%
method_figures.preprocessing_figure(train_samples[0].image, config.preprocess);

# %% [markdown]
# ## 3. Augmentation: what the network actually sees
#
# 85 images are too few to learn from as they are. Training draws crops from flipped and rotated
# copies, so the network sees each gland in many positions. White lines are the gland outlines
# the network must learn.

# %%
cache_dir = Path(out_dir).parent.parent / ".cache" if out_dir else Path("my-runs") / ".cache"
prepared = preprocessing.prepare("train", config.preprocess, cache_dir, root=data_root,
                                 samples=train_samples if config.data == "synthetic" else None)
# As training does: a few images are held out for validation, the crops come from the rest.
kept, _ = train.split_train_val(len(prepared["x"]), config.train.val_images, seed)
augmenter = augment.make_augmenter(prepared["x"][kept], prepared["mask"][kept], config.augment, seed=seed)
print(f"{len(augmenter)} crops of {config.augment.crop_size[0]}x{config.augment.crop_size[1]} px per epoch, "
      f"from {len(kept)} of the {len(prepared['x'])} training images at {config.preprocess.size[0]}x"
      f"{config.preprocess.size[1]} px (the other {len(prepared['x']) - len(kept)} validate)")
method_figures.augmenter_figure(augmenter, 8);

# %% [markdown]
# ## 4. The network: LinkNet with a coarse output
#
# LinkNet is an encoder-decoder: a ResNet18 encoder shrinks the image to 1/32 of its size while
# it learns what it contains, and a light decoder grows it back, adding the encoder's features
# at each scale ("links") so that borders stay sharp. The paper adds a second, coarse output
# at a quarter of the resolution, trained with the same loss (deep supervision).

# %%
network = model.build_model(config.preprocess, config.model)
print(f"{network.count_params():,} parameters")
method_figures.model_table(model.model_summary_table(network))

# %% [markdown]
# ## 5. Train (or load a trained network)
#
# The paper's losses combine binary cross-entropy (BCE), a Dice term and pixel accuracy:
# L1 = BCE - exp(1 + Dice), L2 = L1 - accuracy, L3 = 2 BCE - exp(1 + Dice) - accuracy, each for the
# final and the coarse output. A few training images are held out to choose the epoch whose
# network is kept. The progress bar shows the loss falling (it is negative because the Dice and
# accuracy terms are rewards).

# %%
if train_network:
    out_dir = Path(out_dir or Path("my-runs") / preset / runner.run_id(config))
    record = runner.run_experiment(config, out_dir, root=data_root, cache_dir=cache_dir, verbose=verbose)
    trained = train.load_trained(config, out_dir)
    minutes = record["training"]["seconds"] / 60
    print(f"trained {record['training']['epochs']} epoch(s) in {minutes:.1f} minutes "
          f"({record['training'].get('precision')}: {record['training'].get('precision_reason')})")
else:
    path = Path(model_file) if model_file else inference.shipped_model()
    trained, file_config, meta = inference.load_model_file(path)
    print(f"loaded {path.name}: run {meta['run_id']} at the {file_config.preset} preset, "
          f"trained in {meta['trained_precision']}")
    shipped = results.config_label(file_config.to_dict())
    if shipped != label:
        print(f"Note: this network is {shipped}, not the {label} of the parameter cell: "
              "to score another configuration, train it (train_network = True).")
    config = file_config.replace(data=config.data)
    out_dir = Path(out_dir or Path("my-runs") / "model-files" / path.stem)
    record = runner.score_network(trained, config, out_dir, root=data_root, cache_dir=cache_dir,
                                  training={"model_file": path.name, "source_run": meta["run_id"]})

# %% [markdown]
# ## 6. From probabilities to glands, and the score
#
# The network gives each pixel a probability of being gland. Otsu's method picks the threshold,
# holes are filled, objects too small to be glands are dropped, and each connected component
# becomes one gland. The challenge then matches each predicted gland to the annotated one it
# overlaps most: F1 counts the glands found, object Dice measures how well their shapes agree and
# object Hausdorff (in pixels) how far their borders stray.

# %%
test_samples = runner.load_samples(config, "testA", data_root)
first = test_samples[0]
prob = runner.probabilities(trained, config, "testA", test_samples, cache_dir, data_root, names=[first.name])[0]
prob = postprocess.resize_probability(prob, first.labels.shape)  # post-processing works at the image's own size
method_figures.postprocess_figure(prob, config.postprocess, image=first.image);

# %%
display(results_figures.metrics_table(record))
results_figures.prediction_overlays(record, out_dir, root=data_root if config.data == "glas" else None, n=3);

# %% [markdown]
# ## 7. Your run beside the paper and the class
#
# The paper trained 100 epochs at full resolution on a GPU; the workshop preset trains a few
# minutes at a third of the size, so expect lower figures. Differences between configurations
# of a few hundredths are within the spread between seeds: compare with your neighbours'.

# %%
workshop.class_table(records, record, split="testA", preset=preset)

# %% [markdown]
# ## Exercises
#
# **1. Change the loss.** Set `loss = "L1"` (BCE and Dice) or `"L2"` (L1 minus accuracy) in the
# parameter cell and run the notebook again. Does L3, with its doubled BCE, help?

# %%
print(workshop.expected(records, "H + L1", preset=preset))
print(workshop.expected(records, "H + L2", preset=preset))

# %% [markdown]
# <details><summary>Solution</summary>
#
# In the parameter cell: `loss = "L1"`, then Run All. With papermill:
# `papermill notebooks/workshop.ipynb l1.ipynb -p loss L1`. Compare the paper's column of the
# table above (where L3 is best on Test A) with what the records found at this preset, and with
# the spread between seeds.
# </details>
#
# **2. Try RGB input.** Set `input = "rgb"`: the network then gets all three colour channels
# instead of the hematoxylin channel. Is the stain separation worth it?

# %%
print(workshop.expected(records, "RGB + L3", preset=preset))

# %% [markdown]
# <details><summary>Solution</summary>
#
# `input = "rgb"` in the parameter cell, then Run All. The network's first layer then takes three
# channels; everything else stays the same.
# </details>
#
# **3. Change the smallest object kept.** Post-processing drops objects smaller than
# `min_size_px` pixels of the original image (the value of your run is printed below). No
# retraining is needed: post-process your network's probabilities again with other sizes and
# compare F1.

# %%
print(f"your run keeps objects of at least {config.postprocess.min_size_px} px; "
      f"the paper's protocol keeps {preset_config('paper').postprocess.min_size_px} px")
sweeps = sensitivity.load_sweeps(results_dir)
print(workshop.min_size_effect(sweeps, label, preset=preset, opening_radius_px=config.postprocess.opening_radius_px))

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# probs = runner.probabilities(trained, config, "testA", test_samples, cache_dir, data_root)
# settings = [config.postprocess.replace(min_size_px=m) for m in (200, 1000, 4000)]
# sensitivity.score_settings(probs, [s.labels for s in test_samples], settings)
# ```
#
# Small sizes keep specks that count as false positives; large ones drop small true glands.
# The cell below runs it.
# </details>

# %% tags=["hide-input"]
probs = runner.probabilities(trained, config, "testA", test_samples, cache_dir, data_root)
settings = [config.postprocess.replace(min_size_px=m) for m in (200, 1000, 4000)]
rows = sensitivity.score_settings(probs, [s.labels for s in test_samples], settings)
Table(["smallest object (px)", "F1", "TP", "FP", "FN"],
      [[r["min_size_px"], f"{r['f1']:.3f}", r["tp"], r["fp"], r["fn"]] for r in rows],
      caption="Your network on Test A with three smallest-object sizes")

# %% [markdown]
# ## Where these figures come from
#
# Every figure above was computed by this run; the record in `out_dir` keeps them with what made
# them.

# %%
workshop.provenance_table(record)
