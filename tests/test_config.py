import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glandseg.config import (
    AugmentConfig,
    ExperimentConfig,
    ModelConfig,
    PostprocessConfig,
    PreprocessConfig,
    TrainConfig,
)


def test_defaults_are_the_papers_protocol():
    c = ExperimentConfig()
    assert c.preprocess.size == (832, 576)
    assert c.preprocess.input == "hematoxylin" and c.preprocess.channels == 1
    assert c.augment.crop_size == (416, 288) and c.augment.crops_per_variant == 4
    assert c.model.deep_supervision is True
    assert (c.train.coarse_weight, c.train.final_weight) == (2.0, 1.0)
    assert c.train.loss == "L3" and c.train.epochs == 100
    assert c.postprocess.threshold == "otsu"


def test_json_round_trip_is_exact():
    c = ExperimentConfig(
        preset="x",
        seed=3,
        preprocess=PreprocessConfig(input="rgb", unsharp=True, size=(416, 288)),
        augment=AugmentConfig(mode="random", crop_size=(256, 192)),
        train=TrainConfig(loss="L1", dice_term="log", epochs=7),
        postprocess=PostprocessConfig(threshold=0.4, opening_radius_px=2),
    )
    text = c.to_json()
    back = ExperimentConfig.from_json(text)
    assert back == c
    assert isinstance(back.preprocess.size, tuple)
    # The JSON is plain data: usable as papermill parameters.
    assert json.loads(text)["train"]["loss"] == "L1"


@settings(max_examples=40, deadline=None)
@given(
    input=st.sampled_from(["hematoxylin", "rgb"]),
    unsharp=st.booleans(),
    loss=st.sampled_from(["L1", "L2", "L3"]),
    ds=st.booleans(),
    seed=st.integers(0, 2**31),
    w=st.integers(1, 40).map(lambda k: 32 * k),
    h=st.integers(1, 40).map(lambda k: 32 * k),
)
def test_dict_round_trip_property(input, unsharp, loss, ds, seed, w, h):
    c = ExperimentConfig(
        seed=seed,
        preprocess=PreprocessConfig(input=input, unsharp=unsharp, size=(w, h)),
        augment=AugmentConfig(crop_size=(32, 32)),
        model=ModelConfig(deep_supervision=ds),
        train=TrainConfig(loss=loss),
    )
    assert ExperimentConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: PreprocessConfig(input="gray"), "input"),
        (lambda: PreprocessConfig(size=(830, 576)), "size"),
        (lambda: PreprocessConfig(size=(832,)), "size"),
        (lambda: PreprocessConfig(unsharp_amount=-1), "unsharp_amount"),
        (lambda: AugmentConfig(mode="mixup"), "mode"),
        (lambda: ModelConfig(coarse_scale=3), "coarse_scale"),
        (lambda: TrainConfig(loss="L4"), "loss"),
        (lambda: TrainConfig(batch_size=0), "batch_size"),
        (lambda: TrainConfig(epochs=2.5), "epochs"),
        (lambda: TrainConfig(precision="float8"), "precision"),
        (lambda: PostprocessConfig(threshold="triangle"), "threshold"),
        (lambda: PostprocessConfig(threshold=1.5), "threshold"),
        (lambda: PostprocessConfig(min_size_px=-1), "min_size_px"),
        (lambda: ExperimentConfig(data="kaggle"), "data"),
        (lambda: ExperimentConfig(seed=-1), "seed"),
    ],
)
def test_bad_values_name_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()


def test_padded_size_is_suggested():
    with pytest.raises(ValueError, match=r"\(832, 576\)"):
        PreprocessConfig(size=(830, 570))


def test_crop_must_fit_in_image():
    with pytest.raises(ValueError, match="crop_size"):
        ExperimentConfig(preprocess=PreprocessConfig(size=(256, 192)))


def test_unknown_key_is_rejected():
    with pytest.raises(ValueError, match="no field.*colour"):
        PreprocessConfig.from_dict({"colour": "blue"})


def test_configs_are_frozen():
    c = TrainConfig()
    with pytest.raises(Exception):
        c.loss = "L1"
    assert c.replace(loss="L1").loss == "L1"


def test_overrides_change_fields_by_their_types_and_name_what_is_wrong():
    from glandseg.config import ExperimentConfig, parse_override

    base = ExperimentConfig()
    c = base.with_overrides(dict(map(parse_override, ["train.learning_rate=0.003", "preprocess.unsharp=true",
                                                       "augment.crop_size=160x128", "train.lr_schedule=cosine",
                                                       "postprocess.min_size_px=1500"])))
    assert c.train.learning_rate == 0.003 and c.preprocess.unsharp is True and c.augment.crop_size == (160, 128)
    assert c.train.lr_schedule == "cosine" and c.postprocess.min_size_px == 1500
    assert c.model == base.model and c.seed == base.seed  # nothing else changed
    assert base.with_overrides(None) == base and base.with_overrides({"train.epochs": 7}).train.epochs == 7
    with pytest.raises(ValueError, match="SECTION one of"):
        base.with_overrides({"training.epochs": 3})
    with pytest.raises(ValueError, match="TrainConfig has no field 'epoch'"):
        base.with_overrides({"train.epoch": 3})
    with pytest.raises(ValueError, match="expected a value like 8"):
        base.with_overrides({"train.batch_size": "eight"})
    with pytest.raises(ValueError, match="expected a value like False"):
        base.with_overrides({"preprocess.unsharp": "yes"})
    with pytest.raises(ValueError, match="lr_schedule"):  # validated like any configuration
        base.with_overrides({"train.lr_schedule": "step"})
    with pytest.raises(ValueError, match="SECTION.FIELD=VALUE"):
        parse_override("batch_size=4")
