"""The EM corpus across microscopes: balanced patches, fixed disjoint splits, polarity, dtype
and pixel-size handling (synthetic data sets only)."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import yaml
from PIL import Image
from tests.conftest import REPO

from flowem.errors import ConfigError
from flowem.io import read_json, read_mrc, write_tiff
from flowem.restore.corpus import (
    DEFAULT_SETS,
    CorpusSet,
    CorpusSettings,
    SetSpec,
    balanced_patches,
    load_set,
    main,
)
from flowem.restore.corpus import (
    data_locator as corpus_locator,
)
from flowem.restore.normalise import REFERENCE_SPREAD, fit_normalisation


def constant_set(name: str, values: list[float], shapes, **splits) -> CorpusSet:
    """A data set whose section ``i`` is the constant ``values[i]`` (a patch names its
    section), sections of the given shapes."""
    sections = [np.full(shape, v, np.float32) for v, shape in zip(values, shapes, strict=True)]
    spec = SetSpec(files=["x"], **splits)
    return CorpusSet(name, spec, sections, [], [1.0] * len(sections), [])


def three_sets() -> list[CorpusSet]:
    return [
        # a small set of 4 sections and a large set of 40: balance ignores their sizes
        constant_set("a", [1, 2, 3, 4], [(20, 24)] * 4, train=[0, 1], val=[2], test=[3]),
        constant_set(
            "b",
            list(range(100, 140)),
            [(40 + i % 3, 30) for i in range(40)],
            train=list(range(30)),
            val=[30, 31],
            test=[39],
        ),
        # never trained on (no training sections): no patches
        constant_set("c", [-5], [(32, 32)], test=[0], reference=False),
    ]


def test_patches_are_balanced_across_data_sets_and_come_from_their_training_sections():
    sets = three_sets()
    train, labels = balanced_patches(sets, "train", 300, 8, seed=0)
    values = train.reshape(len(train), -1)[:, 0]
    assert np.all(train == values[:, None, None])  # each patch lies inside one section
    in_a = np.isin(values, [1, 2])
    in_b = np.isin(values, np.arange(100, 130))
    assert in_a.sum() == 300 and in_b.sum() == 300 and len(train) == 600
    assert np.array_equal(labels == 0, in_a)  # the labels say which set each patch came from
    assert not np.isin(values, [3, 4, 130, 131, 139, -5]).any()  # no val / test / untrained section
    assert 0.3 < in_a[:300].mean() < 0.7  # shuffled together, not one set after the other
    val, _ = balanced_patches(sets, "val", 20, 8, seed=0)
    assert sorted(np.unique(val)) == [3.0, 130.0, 131.0]


def test_balanced_patches_are_reproducible_and_depend_on_the_seed():
    sets = three_sets()
    first, _ = balanced_patches(sets, "train", 50, 8, seed=1)
    assert np.array_equal(first, balanced_patches(sets, "train", 50, 8, seed=1)[0])
    assert not np.array_equal(first, balanced_patches(sets, "train", 50, 8, seed=2)[0])


@pytest.mark.parametrize("name", sorted(DEFAULT_SETS))
def test_every_default_data_set_has_disjoint_fixed_splits(name):
    spec = SetSpec(**DEFAULT_SETS[name])
    train, val, test = set(spec.train), set(spec.val), set(spec.test)
    assert not (train & val or train & test or val & test)
    assert test and (val or not spec.reference)
    if not spec.reference:
        assert not train  # a noisy image without reference is never trained on


def test_overlapping_splits_are_an_error_naming_the_sections():
    with pytest.raises(ConfigError, match=r"\[2\] in two splits"):
        SetSpec(files=["x"], train=[0, 1, 2], val=[2], test=[3])
    bad = {"files": ["x"], "train": [0], "val": [1], "test": [1]}
    with pytest.raises(ConfigError, match=r"em_corpus\.sets\.mine: sections \[1\] in two"):
        CorpusSettings(sets={"mine": bad})


def test_the_default_config_lists_the_code_catalogue():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["em_corpus"]["sets"]
    assert list(config) == list(DEFAULT_SETS)
    for name, spec in DEFAULT_SETS.items():
        assert asdict(SetSpec(**config[name])) == asdict(SetSpec(**spec)), name


def test_the_restricted_set_is_opt_in_and_leave_one_out_drops_a_set():
    default = CorpusSettings()
    assert "cdeep3m_sbem" not in default.active()
    assert "cdeep3m_sbem" in CorpusSettings(include_restricted=True).active()
    assert set(default.active()) - set(default.active("fib25_fibsem")) == {"fib25_fibsem"}
    with pytest.raises(ConfigError, match="no data set 'nope'"):
        default.active("nope")


def membranes(size: int = 96) -> np.ndarray:
    """Grey levels in [0, 1]: a smooth texture crossed by thin dark walls (TEM-like)."""
    yy, xx = np.mgrid[:size, :size]
    image = 0.6 + 0.1 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    image[(yy % 16 < 2) | (xx % 12 < 2)] = 0.15
    return image


def write_png(path, array) -> str:
    Image.fromarray(array).save(path)
    return str(path)


def test_uint8_dark_and_uint16_bright_images_of_one_scene_normalise_alike(tmp_path):
    """The same scene stored as dark-membrane uint8 and as inverted, low-contrast uint16
    (bright membranes, another offset) gives the same normalised section: polarity and dtype
    are handled."""
    scene = membranes()
    dark8 = np.round(255 * scene).astype(np.uint8)
    bright16 = np.round(40000 - 20000 * scene).astype(np.uint16)
    files = {"d.png": write_png(tmp_path / "d.png", dark8)}
    files["b.png"] = write_png(tmp_path / "b.png", bright16)
    settings = CorpusSettings(pixel_nm=4.0)
    loaded = {}
    for name, polarity in (("d.png", "dark"), ("b.png", "bright")):
        spec = SetSpec(files=[name], pixel_nm=4.0, polarity=polarity, val=[1], test=[0])
        loaded[name] = load_set(name, spec, settings, lambda file_id: files[file_id])
    dark, bright = loaded["d.png"], loaded["b.png"]
    assert dark.fits[0].dtype == "uint8" and bright.fits[0].dtype == "uint16"
    assert bright.fits[0].sign == -1 and dark.fits[0].sign == 1
    np.testing.assert_allclose(dark.sections[0], bright.sections[0], atol=0.01)
    # thin walls are dark after normalisation in both (the prior's TEM-like contrast)
    walls = scene < 0.3
    assert bright.sections[0][walls].mean() < bright.sections[0][~walls].mean()
    # auto polarity finds the bright set's polarity by itself
    spec = SetSpec(files=["b.png"], pixel_nm=4.0, polarity="auto", val=[1], test=[0])
    auto = load_set("b", spec, settings, lambda file_id: files[file_id])
    assert auto.fits[0].polarity == "bright"


def test_sections_are_resampled_to_the_common_pixel_unless_told_not_to(tmp_path):
    scene = membranes(64)
    volume = np.stack([np.round(255 * scene)] * 3).astype(np.uint8)
    path = str(write_tiff(tmp_path / "v.tif", volume, (50.0, 10.0, 10.0)))
    settings = CorpusSettings(pixel_nm=5.0)
    spec = dict(files=["v"], pixel_nm=10.0, tiles=2, train=[0, 1], val=[4], test=[11])
    data = load_set("v", SetSpec(**spec), settings, lambda _: path)
    assert len(data.sections) == 12  # 3 slices x 2 x 2 tiles
    assert data.sections[0].shape == (64, 64)  # a 32 px tile of 10 nm at 5 nm
    assert data.pixel_nm[0] == 5.0 and data.records[5]["slice"] == 1
    native = load_set("v", SetSpec(**spec, resample=False), settings, lambda _: path)
    assert native.sections[0].shape == (32, 32) and native.pixel_nm[0] == 10.0
    # robust: every section's low-passed robust spread is ISBI's, whatever it was stored as
    fit = fit_normalisation(data.sections[0].astype(np.float64), "robust", "dark")
    assert fit.spread == pytest.approx(REFERENCE_SPREAD, rel=0.02)


def test_em_corpus_command_writes_balanced_stacks_and_their_record(tmp_path, monkeypatch):
    gen = np.random.default_rng(0)
    a = str(write_tiff(tmp_path / "a.tif", gen.integers(0, 255, (4, 40, 40), np.uint8)))
    b = write_png(tmp_path / "b.png", gen.integers(0, 65535, (80, 80), np.uint16))
    files = {"a": a, "b": b}
    import flowem.restore.corpus as corpus

    monkeypatch.setattr(corpus, "data_locator", lambda data, restricted: files.__getitem__)
    sets = {
        "vol": {"files": ["a"], "pixel_nm": 8.0, "train": [0, 1], "val": [2], "test": [3]},
        "img": {"files": ["b"], "pixel_nm": 8.0, "tiles": 2, "train": [0, 1], "val": [2]}
        | {"test": [3]},
    }
    params = {"corpus": {"sets": sets, "pixel_nm": 8.0, "patch": 16, "n_train": 10, "n_val": 3}}
    out = tmp_path / "c"
    argv = ["--train", str(out / "train.mrcs"), "--val", str(out / "val.mrcs")]
    assert main([*argv, "--params", __import__("json").dumps(params)]) == 0
    train, pixel_a = read_mrc(out / "train.mrcs")
    assert train.shape == (20, 16, 16) and pixel_a == 80.0
    record = read_json(out / "em_corpus_config.json")["config"]
    assert record["patches_per_set"] == {
        "train": {"vol": 10, "img": 10},
        "val": {"vol": 3, "img": 3},
    }
    assert len(record["sets"]["img"]["sections"]) == 4
    assert main([*argv, "--leave-out", "img", "--params", __import__("json").dumps(params)]) == 0
    assert read_mrc(out / "train.mrcs")[0].shape == (10, 16, 16)


def test_the_restricted_file_is_fetched_only_when_the_corpus_includes_it(tmp_path):
    from flowem.errors import FlowemError

    restricted = DEFAULT_SETS["cdeep3m_sbem"]["files"][0]
    data = {"mirrors": [], "cache_dir": str(tmp_path), "allow_network": False}
    with pytest.raises(FlowemError, match="restricted licence"):
        corpus_locator(data, False)(restricted)
    with pytest.raises(FlowemError) as opted_in:  # offline and no mirror: not found, not refused
        corpus_locator(data, True)(restricted)
    assert "restricted licence" not in str(opted_in.value)
