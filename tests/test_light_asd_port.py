"""The Light-ASD port: the published network's shapes, weights loaded strictly."""

import pytest
import torch
from torch.nn import functional as F

from clips.segmentation.light_asd import (WEIGHTS, WEIGHTS_SHA256, LightASD, load_light_asd, renamed_state_dict,
                                          sha256_file)


def test_the_shipped_weights_are_the_published_file():
    assert WEIGHTS.is_file() and sha256_file(WEIGHTS) == WEIGHTS_SHA256
    assert (WEIGHTS.parent / "LICENSE").read_text().startswith("MIT License")


def test_every_published_tensor_loads_into_the_port_with_its_shape():
    published = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    port = LightASD().state_dict()
    renamed = renamed_state_dict(published)
    assert set(renamed) == set(port)  # nothing missing, nothing left over
    assert all(renamed[k].shape == port[k].shape for k in port)
    assert sum(v.numel() for k, v in published.items() if "num_batches" not in k) == pytest.approx(1.02e6, rel=0.01)
    model = load_light_asd()
    assert not model.training
    assert torch.equal(model.backbone.GRU.gru_backward.weight_hh_l0, published["model.GRU.gru_backward.weight_hh_l0"])


def test_a_state_dict_with_a_missing_or_extra_key_is_refused(tmp_path):
    published = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    broken = dict(published)
    broken.pop("lossV.FC.bias")
    torch.save(broken, tmp_path / "broken.model")
    with pytest.raises(RuntimeError, match="Missing key"):
        load_light_asd(tmp_path / "broken.model")
    with pytest.raises(ValueError, match="unexpected key"):
        renamed_state_dict({**published, "extra.weight": torch.zeros(1)})


def test_one_probability_per_video_frame_from_four_audio_frames_each():
    model = load_light_asd()
    faces = torch.full((2, 10, 112, 112), 120.0)
    mfcc = torch.zeros(2, 40, 13)
    with torch.inference_mode():
        embed = model.embed(faces, mfcc)
        probs = model(faces, mfcc)
    assert embed.shape == (2, 10, 128)
    assert probs.shape == (2, 10) and bool(((probs >= 0) & (probs <= 1)).all())


def _random_inputs(frames: int, seed: int):
    """Grey 0..255 faces and MFCC-sized noise for `frames` video frames."""
    torch.manual_seed(seed)
    return torch.rand(1, frames, 112, 112) * 255, torch.randn(1, 4 * frames, 13) * 10


def test_the_visual_encoder_in_pieces_gives_the_one_pass_result():
    model = load_light_asd()
    faces, mfcc = _random_inputs(40, seed=0)
    with torch.inference_mode():
        whole = model.embed(faces, mfcc, piece=40)
        pieces = model.embed(faces, mfcc, piece=7)
    torch.testing.assert_close(pieces, whole, rtol=1e-4, atol=1e-4)


def _plain_visual_encoder(encoder, x):
    """The published visual encoder written plainly: 3-D convolutions, batch norms, 3-D pooling."""
    def block(blk, x):
        def branch(k):
            y = F.relu(getattr(blk, f"bn_s_{k}")(getattr(blk, f"s_{k}")(x)))
            return F.relu(getattr(blk, f"bn_t_{k}")(getattr(blk, f"t_{k}")(y)))
        return F.relu(blk.bn_last(blk.last(branch(3) + branch(5))))

    x = F.max_pool3d(block(encoder.block1, x), (1, 3, 3), (1, 2, 2), (0, 1, 1))
    x = F.max_pool3d(block(encoder.block2, x), (1, 3, 3), (1, 2, 2), (0, 1, 1))
    return block(encoder.block3, x).amax(dim=(3, 4)).transpose(1, 2)


def test_the_fast_frame_layout_computes_the_published_visual_encoder():
    encoder = load_light_asd().backbone.visualEncoder
    torch.manual_seed(1)
    x = torch.randn(2, 1, 9, 112, 112)  # two sequences: time convolutions must not mix them
    with torch.inference_mode():
        fast = encoder(x)
        plain = _plain_visual_encoder(encoder, x)
    assert fast.shape == (2, 9, 128)
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-4)


def test_bfloat16_convolutions_keep_the_probabilities_and_a_bad_precision_is_refused():
    from clips.segmentation.light_asd import use_bfloat16

    model = load_light_asd()
    faces, mfcc = _random_inputs(30, seed=2)
    with torch.inference_mode():
        exact = model(faces, mfcc)
        fast = model(faces, mfcc, bfloat16=True)
    assert fast.dtype == torch.float32 and not torch.equal(fast, exact)  # it did run in bfloat16
    assert float((fast - exact).abs().max()) < 0.03
    assert use_bfloat16("bfloat16") and not use_bfloat16("float32")
    with pytest.raises(ValueError, match="precision"):
        use_bfloat16("fp8")
