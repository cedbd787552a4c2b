#!/usr/bin/env python3
"""Fixtures for Grad-CAM (tests/fixtures/gradcam/): the heat maps PyTorch computes for the fixture classifiers.

For the two tiny timm EfficientNets of make_effnet_fixtures.py (tests/fixtures/effnet/{a,b}.safetensors, DFDC
`DeepFakeClassifier` layout, randomised BatchNorm), in eval mode (BatchNorm on its running statistics):

  A     = output of the last stage of blocks (encoder.blocks[-1]), made a leaf by a forward hook
  logit = fc(avgpool(encoder.conv_head -> bn2 -> act (A)))
  G     = d(sum of logits)/dA            (one backward for the batch; the samples do not interact)
  cam   = relu(sum_c mean_hw(G)[c] * A[c])           (Selvaraju et al. 2017)
  map   = (cam - min) / (max - min) per sample, 0 where max == min

on seeded RGB uint8 images (images.safetensors: `image_square` [3, 224, 224, 3], `image_odd` [2, 150, 200, 3];
smooth blobs plus noise), normalised with the ImageNet mean/std as the classifiers' input, and writes per model X
X_gradcam.safetensors with the logits, the raw `cam_*` and the normalised `map_*` [n, h, w] (float32).

Deterministic: fixed seeds, one thread.

    . "${PYREF_VENV:-$HOME/.cache/deepfake-pyref}/bin/activate"
    python scripts/reference/make_gradcam_fixtures.py [--out tests/fixtures/gradcam]
"""

import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_effnet_fixtures import DeepFakeClassifier, build_encoder_a, build_encoder_b  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "tests" / "fixtures" / "gradcam"
EFFNET = REPO_ROOT / "tests" / "fixtures" / "effnet"
BUILDERS = {"a": build_encoder_a, "b": build_encoder_b}


def face_like(n, h, w, gen):
    """RGB uint8 images [n, h, w, 3]: smooth blobs (bilinear-upsampled coarse noise) plus fine noise, so the
    maps have structure."""
    coarse = torch.rand(n, 3, h // 16 + 1, w // 16 + 1, generator=gen)
    smooth = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    fine = torch.rand(n, 3, h, w, generator=gen)
    img = (200 * smooth + 55 * fine).round().clamp(0, 255).to(torch.uint8)
    return img.permute(0, 2, 3, 1)


def normalise(img):
    """[n, h, w, 3] uint8 -> [n, 3, h, w] float32, (x / 255 - mean) / std in f32 (imaging::normalize::to_nchw)."""
    x = img.permute(0, 3, 1, 2).to(torch.float32) / 255.0
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def grad_cam(model, x):
    saved = {}

    def keep(_module, _args, output):
        # The weights are frozen, so A becomes the leaf that gradients are taken against.
        leaf = output.detach().requires_grad_(True)
        saved["a"] = leaf
        return leaf

    hook = model.encoder.blocks[-1].register_forward_hook(keep)
    try:
        logits = model(x).flatten()
    finally:
        hook.remove()
    logits.sum().backward()
    a, g = saved["a"], saved["a"].grad
    weights = g.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * a).sum(dim=1))
    flat = cam.flatten(1)
    lo, hi = flat.min(dim=1).values, flat.max(dim=1).values
    span = (hi - lo).view(-1, 1, 1)
    norm = torch.where(span > 0, (cam - lo.view(-1, 1, 1)) / torch.where(span > 0, span, 1.0), torch.zeros_like(cam))
    return logits.detach(), cam.detach(), norm.detach()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)
    images = {"square": face_like(3, 224, 224, gen), "odd": face_like(2, 150, 200, gen)}
    save_file({f"image_{k}": v.contiguous() for k, v in images.items()}, str(args.out / "images.safetensors"),
              metadata={"format": "pt"})
    for name, build in BUILDERS.items():
        torch.manual_seed(0)
        model = DeepFakeClassifier(build())
        state = load_file(str(EFFNET / f"{name}.safetensors"))
        model.load_state_dict(state, strict=True)
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        tensors = {}
        for key, img in images.items():
            logits, cam, norm = grad_cam(model, normalise(img))
            tensors[f"logits_{key}"] = logits.contiguous()
            tensors[f"cam_{key}"] = cam.contiguous()
            tensors[f"map_{key}"] = norm.contiguous()
            spread = [round(float(c.max() - c.min()), 4) for c in cam]
            print(f"{name} {key}: logits {logits.tolist()}, map {tuple(norm.shape)}, cam spread {spread}")
        path = args.out / f"{name}_gradcam.safetensors"
        save_file(tensors, str(path), metadata={"format": "pt"})
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
