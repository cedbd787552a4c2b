#!/usr/bin/env python3
"""Fixtures for the training-parity test (tests/train_parity.rs): three SGD steps of the DFDC recipe in PyTorch.

The model is a tiny timm EfficientNet built exactly like tf_efficientnet_b7 with other multipliers
(_gen_efficientnet('tf_efficientnet_b0', channel_multiplier=0.25, depth_multiplier=0.5, channel_divisor=8,
bn_eps=1e-3, pad_type='same')) in the DFDC DeepFakeClassifier wrapper, with randomised BatchNorm statistics and
affine parameters. Dropout and drop-path are off (they are random). Three steps on one fixed batch of the
solution's training loop (training/pipelines/train_classifier.py, dfdc-solution.md §3.3, training-recipes.md §4):

  labels clipped to [0.01, 0.99]; loss = (BCEWithLogits(fakes) + BCEWithLogits(reals)) / 2;
  SGD(lr, momentum=0.9, dampening=0, weight_decay=1e-4, nesterov=True);
  clip_grad_norm_(params, 1.0); PolyLR(max_iter, power 0.9) stepped with scheduler.step(i) after each step.

BatchNorm is in training mode (batch statistics; running statistics updated with the unbiased variance).
A larger learning rate and a short max_iter than B7's make the weights move and the schedule change.

Writes tests/fixtures/train/:
  parity_init.safetensors   the classifier's state_dict before training (timm key names, encoder.classifier dropped)
  parity_final.safetensors  the state_dict after three steps (parameters and BatchNorm running statistics)
  parity_io.safetensors     x [6,3,64,64] (already normalised), labels [6], losses [3], grad_norms [3] (before
                            clipping), lrs [3] (the rate each step used)
  parity.json               the architecture (our EfficientNetConfig) and the recipe's numbers

Deterministic (fixed seeds, one thread).

    . "${PYREF_VENV:-$HOME/.cache/deepfake-pyref}/bin/activate"
    python scripts/reference/train_parity.py [--out tests/fixtures/train]
"""

import argparse
import json
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import save_file
from timm.models._efficientnet_builder import BN_EPS_TF_DEFAULT
from timm.models.efficientnet import _gen_efficientnet
from torch.optim.lr_scheduler import _LRScheduler

REPO_ROOT = Path(__file__).resolve().parents[2]
B0_ARCH = [
    "ds_r1_k3_s1_e1_c16_se0.25",
    "ir_r2_k3_s2_e6_c24_se0.25",
    "ir_r2_k5_s2_e6_c40_se0.25",
    "ir_r3_k3_s2_e6_c80_se0.25",
    "ir_r3_k5_s1_e6_c112_se0.25",
    "ir_r4_k5_s2_e6_c192_se0.25",
    "ir_r1_k3_s1_e6_c320_se0.25",
]
BASE_LR, MAX_ITER, POWER = 0.1, 10, 0.9
MOMENTUM, WEIGHT_DECAY, CLIP, SMOOTHING = 0.9, 1e-4, 1.0, 0.01
STEPS = 3


class DeepFakeClassifier(nn.Module):
    """training/zoo/classifiers.py: encoder.forward_features -> avg pool -> dropout(0) -> fc."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(encoder.num_features, 1)

    def forward(self, x):
        return self.fc(self.dropout(self.avg_pool(self.encoder.forward_features(x)).flatten(1)))


class PolyLR(_LRScheduler):
    """training/tools/schedulers.py of the solution, verbatim in behaviour."""

    def __init__(self, optimizer, max_iter=90000, power=0.9, last_epoch=-1):
        self.max_iter = max_iter
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self.last_epoch = (self.last_epoch + 1) % self.max_iter
        return [base_lr * ((1 - float(self.last_epoch) / self.max_iter) ** self.power) for base_lr in self.base_lrs]


def randomise_bn(model, gen):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_var.copy_(torch.empty(n).uniform_(0.3, 2.0, generator=gen))
                m.weight.copy_(torch.empty(n).uniform_(0.5, 1.5, generator=gen))
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)


def state(model):
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()
            if not k.startswith("encoder.classifier.") and not k.endswith("num_batches_tracked")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "tests" / "fixtures" / "train")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(4242)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(77)

    encoder = _gen_efficientnet("tf_efficientnet_b0", channel_multiplier=0.25, depth_multiplier=0.5,
                                channel_divisor=8, pretrained=False, bn_eps=BN_EPS_TF_DEFAULT, pad_type="same",
                                num_classes=10, drop_rate=0.0, drop_path_rate=0.0)
    model = DeepFakeClassifier(encoder)
    randomise_bn(model, gen)
    with torch.no_grad():
        model.fc.bias.fill_(0.3)
    model.train()
    init = state(model)

    x = torch.randn(6, 3, 64, 64, generator=gen)
    labels = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    targets = labels.clamp(SMOOTHING, 1 - SMOOTHING)

    optimizer = torch.optim.SGD(model.parameters(), lr=BASE_LR, momentum=MOMENTUM, dampening=0,
                                weight_decay=WEIGHT_DECAY, nesterov=True)
    scheduler = PolyLR(optimizer, max_iter=MAX_ITER, power=POWER)
    loss_fn = nn.BCEWithLogitsLoss()
    losses, norms, lrs = [], [], []
    for i in range(STEPS):
        optimizer.zero_grad()
        out = model(x).view(-1)
        fake, real = targets > 0.5, targets <= 0.5
        fake_loss = loss_fn(out[fake], targets[fake]) if fake.any() else 0
        real_loss = loss_fn(out[real], targets[real]) if real.any() else 0
        loss = (fake_loss + real_loss) / 2
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)))
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        losses.append(loss.item())
        scheduler.step(i)
    expected_lrs = [BASE_LR * (1 - max(n, 1) / MAX_ITER) ** POWER for n in range(STEPS)]
    assert all(abs(a - b) < 1e-12 for a, b in zip(lrs, expected_lrs)), (lrs, expected_lrs)
    assert max(norms) > CLIP, f"clipping must be exercised: {norms}"

    meta = {"format": "pt"}
    save_file(init, args.out / "parity_init.safetensors", metadata=meta)
    save_file(state(model), args.out / "parity_final.safetensors", metadata=meta)
    save_file({"x": x.contiguous(), "labels": labels, "losses": torch.tensor(losses, dtype=torch.float64),
               "grad_norms": torch.tensor(norms, dtype=torch.float64), "lrs": torch.tensor(lrs, dtype=torch.float64)},
              args.out / "parity_io.safetensors", metadata=meta)
    arch = {"name": "tiny_parity", "stages": B0_ARCH, "width_multiplier": 0.25, "depth_multiplier": 0.5,
            "channel_divisor": 8, "stem_size": 32, "num_features": 1280, "bn_eps": 1e-3, "drop_path_rate": 0.0}
    recipe = {"base_lr": BASE_LR, "max_iter": MAX_ITER, "power": POWER, "momentum": MOMENTUM,
              "weight_decay": WEIGHT_DECAY, "clip": CLIP, "label_smoothing": SMOOTHING, "steps": STEPS,
              "torch": torch.__version__, "generator": "scripts/reference/train_parity.py"}
    (args.out / "parity.json").write_text(json.dumps({"arch": arch, "recipe": recipe}, indent=1) + "\n")
    print("losses", losses, "grad norms", norms, "lrs", lrs)


if __name__ == "__main__":
    main()
