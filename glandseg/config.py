"""Experiment configuration as frozen dataclasses.

Every value the paper leaves open is a field here with a documented default, so a results
record that stores ``ExperimentConfig.to_dict()`` says exactly how a run was made. Defaults are
the paper's protocol where the paper states one (832x576 input, H channel, L3 loss, deep
supervision with weight 2 on the coarse output, 13 variants x 4 crops of 416x288, 100 epochs).

Each class validates itself in ``__post_init__`` and raises ``ValueError`` naming the field,
what is allowed and what it received. ``to_dict``/``from_dict`` and ``to_json``/``from_json``
round-trip exactly (tuples come back as tuples), so a config can be a papermill parameter.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field

__all__ = [
    "PreprocessConfig",
    "AugmentConfig",
    "ModelConfig",
    "TrainConfig",
    "PostprocessConfig",
    "ExperimentConfig",
    "parse_override",
]

INPUTS = ("hematoxylin", "rgb")
LOSSES = ("L1", "L2", "L3", "bce", "dice")
DICE_TERMS = ("exp", "log")
AUGMENT_MODES = ("paper", "random")
OPTIMIZERS = ("adam", "adamw", "sgd")
LR_SCHEDULES = ("constant", "cosine")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
KEEP = ("best", "last")
DATA_SOURCES = ("glas", "synthetic")


def _fail(cls, name, allowed, value):
    raise ValueError(f"{cls.__name__}.{name} must be {allowed}. Received: {name}={value!r}")


def _check_choice(obj, name, choices):
    value = getattr(obj, name)
    if value not in choices:
        _fail(type(obj), name, "one of " + ", ".join(repr(c) for c in choices), value)


def _check_positive(obj, name, *, allow_zero=False, integer=False):
    value = getattr(obj, name)
    kind = int if integer else (int, float)
    ok = isinstance(value, kind) and not isinstance(value, bool)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        what = ("a non-negative" if allow_zero else "a positive") + (" integer" if integer else " number")
        _fail(type(obj), name, what, value)


def _check_size(obj, name, multiple=1):
    value = getattr(obj, name)
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        _fail(type(obj), name, "a (width, height) pair of positive integers", value)
    if any(v % multiple for v in value):
        padded = tuple(-(-v // multiple) * multiple for v in value)
        _fail(type(obj), name, f"divisible by {multiple} on both sides (e.g. {padded})", value)


_SECTIONS = ("preprocess", "augment", "model", "train", "postprocess")


def _coerce(value, current, key):
    """``value`` (maybe a command-line string) as the type of the field's ``current`` value."""
    if not isinstance(value, str) or isinstance(current, str):
        return tuple(value) if isinstance(value, list) else value
    try:
        if isinstance(current, bool):
            if value.lower() not in ("true", "false"):
                raise ValueError
            return value.lower() == "true"
        if isinstance(current, int):
            return int(value)
        if isinstance(current, float):
            return float(value)
        if isinstance(current, tuple):
            return tuple(int(v) for v in value.lower().split("x"))
    except ValueError:
        raise ValueError(f"override {key}={value!r}: expected a value like {current!r}") from None
    return value


def parse_override(text: str) -> tuple[str, str]:
    """``"train.batch_size=4"`` -> ``("train.batch_size", "4")`` (for :meth:`ExperimentConfig.with_overrides`).

    Raises
    ------
    ValueError
        Without ``=`` or a ``SECTION.FIELD`` key.
    """
    key, sep, value = str(text).partition("=")
    if not sep or "." not in key or not value:
        raise ValueError(f"expected SECTION.FIELD=VALUE (e.g. train.batch_size=4). Received: {text!r}")
    return key.strip(), value.strip()


class _ConfigMixin:
    """Dict and JSON round trip shared by all config classes."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict):
        if not isinstance(data, dict):
            raise TypeError(f"{cls.__name__}.from_dict expects a dict. Received: {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"{cls.__name__} has no field(s) {', '.join(unknown)}. Known fields: {', '.join(sorted(names))}"
            )
        kwargs = {}
        for key, value in data.items():
            hint = hints[key]
            if isinstance(hint, type) and issubclass(hint, _ConfigMixin):
                value = value if isinstance(value, hint) else hint.from_dict(value)
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(json.loads(text))

    def replace(self, **changes):
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class PreprocessConfig(_ConfigMixin):
    """How a GlaS image becomes a network input.

    Parameters
    ----------
    input : {"hematoxylin", "rgb"}
        Network input: the H channel of colour deconvolution (the paper) or RGB (ablation).
    unsharp : bool
        Apply unsharp masking after the channel is computed (the paper's ablation).
    unsharp_radius_px : float
        Gaussian sigma of the unsharp mask, in pixels of the *resized* image. The paper gives
        none; 2 px sharpens nucleus-scale edges (nuclei are ~6-10 px at 832x576) without
        ringing around whole glands.
    unsharp_amount : float
        Unsharp strength: ``out = x + amount * (x - blur(x))``. The paper gives none; 1.0 is
        scikit-image's default.
    size : (int, int)
        Network input size as (width, height); the paper resizes to 832x576. Both sides must be
        multiples of 32 (LinkNet downsamples five times).
    """

    input: str = "hematoxylin"
    unsharp: bool = False
    unsharp_radius_px: float = 2.0
    unsharp_amount: float = 1.0
    size: tuple[int, int] = (832, 576)

    def __post_init__(self):
        _check_choice(self, "input", INPUTS)
        if not isinstance(self.unsharp, bool):
            _fail(type(self), "unsharp", "True or False", self.unsharp)
        _check_positive(self, "unsharp_radius_px")
        _check_positive(self, "unsharp_amount")
        _check_size(self, "size", multiple=32)

    @property
    def channels(self) -> int:
        """Number of network input channels (1 for H, 3 for RGB)."""
        return 1 if self.input == "hematoxylin" else 3


@dataclass(frozen=True)
class AugmentConfig(_ConfigMixin):
    """Training-set augmentation.

    Parameters
    ----------
    mode : {"paper", "random"}
        ``"paper"``: a fixed set of ``13`` rotation/flip variants per image and
        ``crops_per_variant`` crops of each (85 x 13 x 4 = 4420 crops, the paper's count).
        ``"random"``: a fresh random flip/rotation/crop for every sample drawn (long training).
    crop_size : (int, int)
        Crop size as (width, height); the paper uses 416x288 (half of 832x576).
    crops_per_variant : int
        Crops taken from each variant in ``"paper"`` mode (the paper: 4).
    """

    mode: str = "paper"
    crop_size: tuple[int, int] = (416, 288)
    crops_per_variant: int = 4

    def __post_init__(self):
        _check_choice(self, "mode", AUGMENT_MODES)
        _check_size(self, "crop_size", multiple=32)
        _check_positive(self, "crops_per_variant", integer=True)


@dataclass(frozen=True)
class ModelConfig(_ConfigMixin):
    """LinkNet options.

    Parameters
    ----------
    deep_supervision : bool
        Add the paper's internal ``coarse`` output (the paper's modification of LinkNet).
    coarse_scale : int
        Downsampling factor of the coarse output relative to the input: 4 means the output of
        the first decoder block (1/4 of the input side), the last decoder stage before the
        full-resolution head.
    """

    deep_supervision: bool = True
    coarse_scale: int = 4

    def __post_init__(self):
        if not isinstance(self.deep_supervision, bool):
            _fail(type(self), "deep_supervision", "True or False", self.deep_supervision)
        _check_choice(self, "coarse_scale", (4, 8, 16))


@dataclass(frozen=True)
class TrainConfig(_ConfigMixin):
    """Optimisation choices (the paper states none of optimizer, rate, batch or validation).

    Parameters
    ----------
    loss : {"L1", "L2", "L3", "bce", "dice"}
        Loss on both outputs (paper Eq. 5-7; ``bce`` and ``dice`` are plain baselines).
    dice_term : {"exp", "log"}
        How Dice enters L1-L3: ``exp(1 + Dice)`` (our reading of the paper) or ``log(1 + Dice)``.
    smooth : float
        Smoothing constant S of the soft Dice.
    coarse_weight, final_weight : float
        Weights of the coarse and final output losses (the paper: 2 and 1).
    optimizer : {"adam", "adamw", "sgd"}
    learning_rate : float
        Initial learning rate.
    lr_schedule : {"constant", "cosine"}
        ``"cosine"`` decays the rate to 0 over all training steps (helps short CPU runs end
        on a settled model); ``"constant"`` keeps it.
    batch_size : int
    epochs : int
    val_images : int
        Training images (whole images, not crops) held out for validation and model selection.
    keep : {"best", "last"}
        The network a run keeps for prediction: ``"best"``, the epoch with the lowest validation
        loss (the paper states no selection; this is ours), or ``"last"``, the final epoch's (a
        cosine schedule ends on a settled network, and a few validation images choose noisily).
    precision : {"auto", "float32", "mixed_bfloat16", "mixed_float16"}
        Keras dtype policy during training. ``"auto"`` (every preset's default) is
        ``mixed_bfloat16`` where the hardware computes bfloat16 natively (a CPU with
        AVX512-BF16 or AMX-BF16 under TensorFlow, a GPU of compute capability 8 or newer) and
        ``float32`` elsewhere (:func:`glandseg.hardware.resolve_precision`); the run records
        what it resolved to and why.
    """

    loss: str = "L3"
    dice_term: str = "exp"
    smooth: float = 1.0
    coarse_weight: float = 2.0
    final_weight: float = 1.0
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    batch_size: int = 8
    epochs: int = 100
    val_images: int = 5
    precision: str = "auto"
    keep: str = "best"

    def __post_init__(self):
        _check_choice(self, "loss", LOSSES)
        _check_choice(self, "dice_term", DICE_TERMS)
        _check_positive(self, "smooth")
        _check_positive(self, "coarse_weight", allow_zero=True)
        _check_positive(self, "final_weight")
        _check_choice(self, "optimizer", OPTIMIZERS)
        _check_positive(self, "learning_rate")
        _check_choice(self, "lr_schedule", LR_SCHEDULES)
        _check_positive(self, "batch_size", integer=True)
        _check_positive(self, "epochs", integer=True)
        _check_positive(self, "val_images", allow_zero=True, integer=True)
        _check_choice(self, "precision", PRECISIONS)
        _check_choice(self, "keep", KEEP)


@dataclass(frozen=True)
class PostprocessConfig(_ConfigMixin):
    """Probability map to gland instances.

    Parameters
    ----------
    threshold : "otsu" or float
        ``"otsu"`` (the paper) or a fixed probability in (0, 1).
    min_size_px : int
        Objects smaller than this (pixels, at the original image size) are removed. GlaS glands
        are rarely below ~500 px at 775x522; 200 px keeps small glands and drops speckle.
    hole_size_px : int
        Holes (background regions enclosed by a gland) up to this area are filled. Gland lumens
        are often predicted as background; 2000 px fills them without merging distinct glands.
    opening_radius_px : int
        Radius of a disk opening applied before labelling (0 = none); it splits glands touching
        by a thin bridge at the cost of eroding thin glands.
    connectivity : {1, 2}
        Pixel connectivity of the connected-component labelling (1 = 4-, 2 = 8-connected).
    """

    threshold: typing.Union[str, float] = "otsu"
    min_size_px: int = 200
    hole_size_px: int = 2000
    opening_radius_px: int = 0
    connectivity: int = 1

    def __post_init__(self):
        if isinstance(self.threshold, str):
            if self.threshold != "otsu":
                _fail(type(self), "threshold", "'otsu' or a number in (0, 1)", self.threshold)
        elif not (isinstance(self.threshold, (int, float)) and 0 < self.threshold < 1):
            _fail(type(self), "threshold", "'otsu' or a number in (0, 1)", self.threshold)
        _check_positive(self, "min_size_px", allow_zero=True, integer=True)
        _check_positive(self, "hole_size_px", allow_zero=True, integer=True)
        _check_positive(self, "opening_radius_px", allow_zero=True, integer=True)
        _check_choice(self, "connectivity", (1, 2))


@dataclass(frozen=True)
class ExperimentConfig(_ConfigMixin):
    """One experiment: data, the four stage configs, and the seed.

    Parameters
    ----------
    preset : str
        Name of the preset this config came from (free text, stored in records).
    data : {"glas", "synthetic"}
        Real GlaS data or the embedded synthetic set (tests, demo, smoke preset).
    seed : int
        Seed of every random choice (augmentation, initialisation, data order).
    """

    preset: str = "paper"
    data: str = "glas"
    seed: int = 0
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)

    def __post_init__(self):
        if not isinstance(self.preset, str) or not self.preset:
            _fail(type(self), "preset", "a non-empty string", self.preset)
        _check_choice(self, "data", DATA_SOURCES)
        _check_positive(self, "seed", allow_zero=True, integer=True)
        for name, cls in (
            ("preprocess", PreprocessConfig),
            ("augment", AugmentConfig),
            ("model", ModelConfig),
            ("train", TrainConfig),
            ("postprocess", PostprocessConfig),
        ):
            if not isinstance(getattr(self, name), cls):
                _fail(type(self), name, f"a {cls.__name__}", getattr(self, name))
        crop_w, crop_h = self.augment.crop_size
        width, height = self.preprocess.size
        if crop_w > width or crop_h > height:
            raise ValueError(
                f"ExperimentConfig.augment.crop_size {self.augment.crop_size} is larger than "
                f"preprocess.size {self.preprocess.size}; crops must fit inside the resized image."
            )

    def with_overrides(self, overrides) -> "ExperimentConfig":
        """A copy with fields of its sections changed: ``{"section.field": value}``.

        For protocols that differ from a preset in a few settings (candidate protocols, a
        reader's experiment), e.g. ``{"preprocess.size": (352, 240), "train.batch_size": 4}``.
        Values may be strings as a command line gives them (:func:`parse_override`). The result
        is validated like any configuration.

        Raises
        ------
        ValueError
            For an unknown section or field (naming it) or an invalid value.

        Examples
        --------
        >>> c = ExperimentConfig().with_overrides({"train.epochs": "3", "preprocess.size": "416x288"})
        >>> c.train.epochs, c.preprocess.size
        (3, (416, 288))
        """
        changes: dict[str, dict] = {}
        for key, value in dict(overrides or {}).items():
            section, _, name = str(key).partition(".")
            sub = getattr(self, section, None) if section in _SECTIONS else None
            if sub is None or not name:
                raise ValueError(f"override {key!r}: expected SECTION.FIELD with SECTION one of {', '.join(_SECTIONS)}")
            fields = {f.name for f in dataclasses.fields(sub)}
            if name not in fields:
                raise ValueError(f"override {key!r}: {type(sub).__name__} has no field {name!r}. "
                                 f"Known fields: {', '.join(sorted(fields))}")
            changes.setdefault(section, {})[name] = _coerce(value, getattr(sub, name), key)
        return self.replace(**{section: getattr(self, section).replace(**c) for section, c in changes.items()})

    # -- presets: named constructors ---------------------------------------------------------

    @classmethod
    def paper(cls, **grid) -> "ExperimentConfig":
        """The paper's protocol: 832x576, 13 variants x 4 crops of 416x288 (4420), 100 epochs.

        About 7 h on the paper's Titan X; far too slow for a CPU.
        """
        return _with_grid(cls(preset="paper"), **grid)

    @classmethod
    def cpu(cls, **grid) -> "ExperimentConfig":
        """A reduced protocol for a 2-core CPU: one configuration in at most 60 minutes.

        Half resolution (416x288: on two cores the full size costs four times the step time for
        little gain in a fixed budget), random flips/rotations/crops of 256x192 drawn afresh
        every epoch (4160 a epoch), a cosine learning-rate decay from 2e-3, and
        :data:`CPU_EPOCHS` epochs chosen from the measured step time. Precision ``"auto"``:
        ``mixed_bfloat16`` only where the CPU has native bfloat16 (on the AVX2-only AMD EPYC it
        measured 5x *slower* per step, 13.1 s vs 2.5 s at batch 8; on an AMX Xeon 1.5x faster,
        ``benchmarks/train_step.py``). Objects under 1000 px are dropped after thresholding: short
        training leaves many small false positives, and only 2% of the training glands are that
        small (1st percentile 576 px, 5th 1733 px).
        """
        base = cls(
            preset="cpu",
            preprocess=PreprocessConfig(size=(416, 288), unsharp_radius_px=1.0),
            augment=AugmentConfig(mode="random", crop_size=(256, 192), crops_per_variant=4),
            train=TrainConfig(
                epochs=CPU_EPOCHS, batch_size=8, learning_rate=2e-3, lr_schedule="cosine"
            ),
            postprocess=PostprocessConfig(min_size_px=1000, hole_size_px=2000),
        )
        return _with_grid(base, **grid)

    @classmethod
    def cpu_long(cls, **grid) -> "ExperimentConfig":
        """The :meth:`cpu` protocol trained :data:`CPU_LONG_EPOCHS` epochs (preset ``"cpu-long"``).

        Everything else as in :meth:`cpu`; its cosine schedule stretches over all the epochs. It
        shows what the half-size protocol reaches when trained longer, in a results folder of its
        own beside the 4-epoch records.
        """
        base = cls.cpu().replace(preset="cpu-long")
        base = base.replace(train=base.train.replace(epochs=CPU_LONG_EPOCHS))
        return _with_grid(base, **grid)

    @classmethod
    def workshop(cls, **grid) -> "ExperimentConfig":
        """At most 15 minutes per configuration on a 2-core laptop CPU.

        A third of the paper's resolution (288x192, the GlaS aspect ratio), random
        flips/rotations/crops of 160x128 (2080 a epoch), :data:`WORKSHOP_EPOCHS` epochs with a
        cosine decay from 4e-3, precision ``"auto"``; objects from 1000 px as in :meth:`cpu`,
        after an opening of radius 4 px. The unsharp sigma scales with the image (0.7 px here,
        2 px at 832x576).

        The learning rate and the opening were chosen on the validation images among candidate
        protocols (``results/candidates``; the teacher's guide shows the comparison): the first
        protocol (2e-3, no opening) and larger images, larger crops or smaller images at the
        same training time scored lower there.
        """
        base = cls.cpu().replace(
            preset="workshop",
            preprocess=PreprocessConfig(size=(288, 192), unsharp_radius_px=0.7),
            augment=AugmentConfig(mode="random", crop_size=(160, 128), crops_per_variant=2),
            postprocess=PostprocessConfig(min_size_px=1000, hole_size_px=2000, opening_radius_px=4),
        )
        base = base.replace(train=base.train.replace(epochs=WORKSHOP_EPOCHS, learning_rate=4e-3))
        return _with_grid(base, **grid)

    @classmethod
    def smoke(cls, **grid) -> "ExperimentConfig":
        """Synthetic data, tiny images, one epoch: the whole pipeline in well under a minute."""
        base = cls(
            preset="smoke",
            data="synthetic",
            preprocess=PreprocessConfig(size=(128, 96), unsharp_radius_px=1.0),
            augment=AugmentConfig(mode="random", crop_size=(64, 64), crops_per_variant=1),
            train=TrainConfig(epochs=1, batch_size=8, val_images=2, learning_rate=2e-3),
            postprocess=PostprocessConfig(min_size_px=20, hole_size_px=100),
        )
        return _with_grid(base, **grid)


#: Epoch counts of the CPU presets, from step times measured on the idle 2-core AMD EPYC (AVX2)
#: with ``benchmarks/train_step.py`` (TensorFlow, float32, batch 8): 1.18 s per step for
#: 256x192 crops (6.8 crops/s) and 0.61 s for 192x128 (13.1 crops/s). Inside ``fit``, with its
#: input pipeline and validation, steps take about 1.4 times as long: a workshop epoch of 260
#: steps on 192x128 crops took 207-228 s, so 4 such epochs plus prediction came to about 16
#: minutes, over the 15-minute budget. ``workshop`` therefore takes 160x128 crops: 4 x 2080
#: of them, about 13-14 minutes in all. ``cpu``: 4 x 4160 crops of 256x192, about 45-50
#: minutes. JAX was slower on this CPU (0.63 s for 128x96 against TensorFlow's 0.39 s).
CPU_EPOCHS = 4
WORKSHOP_EPOCHS = 4
#: Epochs of the ``cpu-long`` preset: eight times :data:`CPU_EPOCHS`, a third of the paper's.
CPU_LONG_EPOCHS = 32

PRESETS = ("paper", "cpu", "cpu-long", "workshop", "smoke")


def _with_grid(
    config: ExperimentConfig,
    *,
    input: str | None = None,
    unsharp: bool | None = None,
    loss: str | None = None,
    deep_supervision: bool | None = None,
    seed: int | None = None,
    epochs: int | None = None,
    precision: str | None = None,
) -> ExperimentConfig:
    """Apply the paper's grid axes (and a seed / epoch / precision override) to a preset."""
    pre = config.preprocess.replace(
        **{k: v for k, v in (("input", input), ("unsharp", unsharp)) if v is not None}
    )
    model = config.model if deep_supervision is None else config.model.replace(deep_supervision=deep_supervision)
    train = config.train
    if loss is not None:
        train = train.replace(loss=loss)
    if epochs is not None:
        train = train.replace(epochs=epochs)
    if precision is not None:
        train = train.replace(precision=precision)
    return config.replace(
        preprocess=pre, model=model, train=train, seed=config.seed if seed is None else seed
    )


def preset_config(name: str, **grid) -> ExperimentConfig:
    """The configuration of preset ``name`` (``paper``, ``cpu``, ``cpu-long``, ``workshop``, ``smoke``).

    Keyword arguments ``input``, ``unsharp``, ``loss``, ``deep_supervision``, ``seed``,
    ``epochs`` and ``precision`` select a point of the grid; None keeps the preset's value.

    Raises
    ------
    ValueError
        For an unknown preset name or a bad grid value (naming the field).
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset. Expected one of {', '.join(map(repr, PRESETS))}. Received: preset={name!r}")
    return getattr(ExperimentConfig, name.replace("-", "_"))(**grid)
