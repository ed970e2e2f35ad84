"""The CNN feature space for image replication: it finds shifted copies that the pixel test misses,
and does not flag images it never saw."""

import numpy as np
import pytest

import memlens as ml
from memlens.errors import MemlensError
from memlens.generative.features import ImageEncoder
from memlens.generative.replication import feature_space_replication, replication_scores


@pytest.fixture(scope="module")
def encoder_and_pixels():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    data = ml.data.load("digits")
    pixels = (data.X * 255).round().astype(np.uint8)
    encoder = ImageEncoder((8, 8), seed=0).fit(pixels, data.y)
    torch.set_num_threads(threads)
    return encoder, pixels


def test_feature_space_finds_the_source_of_shifted_copies_more_often_than_pixels(encoder_and_pixels):
    encoder, pixels = encoder_and_pixels
    training = pixels[:300]
    shifted = np.roll(training[:100].reshape(-1, 8, 8), 1, axis=2)
    shifted[:, :, 0] = 0  # a one-pixel shift right: a copy the pixel test does not recognise
    shifted = shifted.reshape(100, -1)
    by_pixels = replication_scores(shifted, training, value_range=(0, 255))
    by_features = feature_space_replication(shifted, training, encoder)
    found_pixels = (by_pixels.nearest == np.arange(100)).mean()
    found_features = (by_features.nearest == np.arange(100)).mean()
    assert found_features >= 0.15 and found_features >= 5 * max(found_pixels, 0.01)
    # exact copies are their own nearest neighbour in feature space too
    assert (feature_space_replication(training[:50], training, encoder).nearest == np.arange(50)).all()


def test_images_the_encoder_never_compared_against_are_not_flagged(encoder_and_pixels):
    encoder, pixels = encoder_and_pixels
    control = feature_space_replication(pixels[300:400], pixels[:300], encoder)
    assert control.replicated.mean() <= 0.05


def test_encoder_is_deterministic_and_refuses_bad_input(encoder_and_pixels):
    encoder, pixels = encoder_and_pixels
    assert encoder.accuracy > 0.9
    assert np.allclose(np.linalg.norm(encoder(pixels[:5]), axis=1), 1.0)
    with pytest.raises(MemlensError, match="rows of 64 pixels"):
        encoder(pixels[:5, :10])
    with pytest.raises(MemlensError, match="labels"):
        ImageEncoder((8, 8)).fit(pixels[:10], None)
    with pytest.raises(MemlensError, match="2-D grey-scale"):
        ImageEncoder(None)
    with pytest.raises(MemlensError, match="before encoding"):
        ImageEncoder((8, 8))(pixels[:2])
