"""The crack network's training pieces that need no deep-learning framework."""

import cv2
import numpy as np
import pytest

from scripts.train_crack_net import NEAR_MISS_PX, augment, near_miss_free, one_cycle
from vision import cracks


def photo_with_crack(seed=0):
    """A grainy grey surface with one dark meandering line, and that line's mask."""
    rng = np.random.default_rng(seed)
    grain = cv2.GaussianBlur(rng.normal(0, 12, (240, 320)).astype(np.float32), (0, 0), 1.0)
    grey = np.clip(150 + grain, 0, 255).astype(np.uint8)
    xs = np.arange(10, 310, 6)
    ys = 120 + np.cumsum(rng.normal(0, 3, len(xs)))
    points = np.column_stack([xs, ys]).round().astype(np.int32)
    cv2.polylines(grey, [points], False, 60, thickness=3)
    mask = np.zeros(grey.shape, np.uint8)
    cv2.polylines(mask, [points], False, 1, thickness=3)
    return grey, mask > 0


def test_augmented_mask_stays_on_the_crack():
    grey, mask = photo_with_crack()
    checked = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        surface, crop_mask, weight = augment(rng, grey, mask, np.ones(mask.shape, np.float32),
                                             128)
        assert surface.shape == crop_mask.shape == weight.shape == (128, 128)
        if crop_mask.sum() < 20:  # this crop missed the crack: nothing to compare
            continue
        checked += 1
        # Scaled, turned and degraded together: the masked pixels are the dark line's.
        assert surface[crop_mask].mean() < -1.0, seed
        assert surface[~crop_mask].mean() > -0.3, seed
    assert checked >= 8


def test_learning_rate_rises_then_falls_to_almost_nothing():
    rates = [one_cycle(p, 3e-3) for p in np.linspace(0, 1, 101)]
    peak = int(np.argmax(rates))
    assert rates[peak] == pytest.approx(3e-3) and 8 <= peak <= 12
    assert all(a <= b for a, b in zip(rates[:peak], rates[1:peak + 1], strict=True))
    assert all(a >= b for a, b in zip(rates[peak:-1], rates[peak + 1:], strict=True))
    assert rates[-1] < 1e-5 and one_cycle(1.5, 3e-3) == rates[-1]


def test_bend_tells_a_wandering_crack_from_a_straight_joint():
    image = np.zeros((200, 400), np.float32)
    straight_ys = np.full(300, 50)
    wander_ys = 140 + np.round(12 * np.sin(np.arange(300) / 25)).astype(int)
    xs = np.concatenate([np.arange(50, 350), np.arange(50, 350)])
    ys = np.concatenate([straight_ys, wander_ys])
    owner = np.repeat([1, 2], 300)
    span, breadth, *_ = cracks._region_shape(owner, ys, xs, np.zeros(600), image, 3)
    bend = breadth[1:] / span[1:]
    assert span[1] == pytest.approx(300, rel=0.02) and span[2] == pytest.approx(300, rel=0.02)
    assert bend[0] < 0.005 < 0.05 < bend[1]


def test_near_misses_of_a_crack_weigh_nothing_and_the_rest_count():
    _, mask = photo_with_crack()
    weight = near_miss_free(mask)
    distance = cv2.distanceTransform((~mask).view(np.uint8), cv2.DIST_L2, 3)
    assert (weight[mask] == 1).all()  # the crack itself counts
    assert (weight[(distance > 0) & (distance <= NEAR_MISS_PX - 0.5)] == 0).all()
    assert (weight[distance > NEAR_MISS_PX + 0.5] == 1).all()  # the surface counts
    assert 0 < np.count_nonzero(weight == 0) < 2 * NEAR_MISS_PX * mask.sum()
    assert (near_miss_free(np.zeros((8, 8), bool)) == 1).all()


def test_generator_settings_draw_thinner_cracks(monkeypatch):
    from scripts import train_crack_net as training

    textures = [np.random.default_rng(9).uniform(0.3, 0.7, (512, 512)).astype(np.float32)]

    def widest_half_widths(count=40):
        rng = np.random.default_rng(4)
        found = []
        for _ in range(count):
            _, mask = training.sample(rng, textures, size=128)
            if mask.any():
                found.append(cv2.distanceTransform(mask.view(np.uint8), cv2.DIST_L2, 5).max())
        return np.array(found)

    usual = widest_half_widths()
    monkeypatch.setattr(training, "THIN_CRACK_SHARE", 1.0)
    monkeypatch.setattr(training, "THIN_CRACK_MAX_PX", 1.5)
    thin = widest_half_widths()
    assert np.percentile(thin, 90) <= 2.0 < np.percentile(usual, 90)


@pytest.mark.parametrize(("arguments", "told"), [
    (["--generator", "NOPE=1"], "unknown generator setting 'NOPE'"),
    (["--generator", "CRACK_DEPTH=1"], "CRACK_DEPTH takes 2 comma-separated value(s)"),
    (["--generator", "JOINTS_PER_IMAGE=1,2"], "JOINTS_PER_IMAGE takes 1 comma-separated"),
    (["--generator", "CRACK_MEANDER=0.6,0.1"], "low before high"),
    (["--generator", "CRACK_DEPTH=0.5,inf"], "finite values"),
    (["--generator", "JOINTS_PER_IMAGE=two"], "takes numbers, not 'two'"),
    (["--generator", "THIN_CRACK_SHARE=1.5"], "at most 1"),
    (["--generator", "CRACK_WIDTH_PX=0,3"], "widths above 0"),
    (["--generator", "THIN_CRACK_SHARE=0.5", "THIN_CRACK_MAX_PX=0.5"], "narrowest width"),
    (["--ema", "1"], "--ema takes a decay"),
    (["--seed", "-1"], "--seed takes 0 or more")])
def test_training_settings_are_checked(monkeypatch, tmp_path, arguments, told, capsys):
    from scripts import train_crack_net as training

    for name in training.GENERATOR:  # whatever a run sets, put back afterwards
        monkeypatch.setattr(training, name, getattr(training, name))
    monkeypatch.setattr("sys.argv", ["train_crack_net.py", "--out", str(tmp_path / "m.onnx"),
                                     *arguments])
    with pytest.raises(SystemExit) as stopped:
        training.main()
    assert stopped.value.code == 2
    assert told in capsys.readouterr().err
