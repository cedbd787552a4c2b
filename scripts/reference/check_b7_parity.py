#!/usr/bin/env python3
"""Full-size parity check of the classifier: a random but well-conditioned DFDC-layout EfficientNet-B7 checkpoint
(266 MB, too large to commit), its logits on three real photos, and the `deepfake classify` command to compare.

The random network is made well conditioned the way trained EfficientNets are: every block's last BatchNorm
(before the residual add) gets a small scale, and all BatchNorm statistics are calibrated on the inputs (train
mode, cumulative average). Without that, activations grow block after block (to 1e4 by stage 5) and float32
rounding alone moves the logit: PyTorch's own float32 and float64 then disagree by 2 %.

Usage (from the repository root, reference venv active):
  python scripts/reference/check_b7_parity.py [--out /tmp/b7]
  deepfake classify -m /tmp/b7/final_test_b7 .cache/media/{grace_hopper.jpg,astronaut.png,multi_face.jpg} --json
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn as nn
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_image_fixtures import isotropically_resize_image, put_to_center  # noqa: E402
from make_video_fixtures import MEDIA  # noqa: E402

PHOTOS = ["grace_hopper.jpg", "astronaut.png", "multi_face.jpg"]


class DeepFakeClassifier(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(encoder.num_features, 1)

    def forward(self, x):
        return self.fc(self.dropout(self.avg_pool(self.encoder.forward_features(x)).flatten(1)))


def crop_tensor(name):
    img = np.asarray(Image.open(MEDIA / name).convert("RGB"))
    x = put_to_center(isotropically_resize_image(img, 380), 380).astype(np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return torch.from_numpy(x.transpose(2, 0, 1).copy())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/tmp/b7"))
    args = ap.parse_args()
    torch.manual_seed(0)
    model = DeepFakeClassifier(timm.create_model("tf_efficientnet_b7", pretrained=False))
    batch = torch.stack([crop_tensor(n) for n in PHOTOS])
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
                m.momentum = None
                m.reset_running_stats()
        for stage in model.encoder.blocks:
            for block in stage:
                (block.bn3 if hasattr(block, "bn3") else block.bn2).weight.uniform_(0.05, 0.2)
        model.train()
        model(batch)
        model.eval()
        model.fc.weight.mul_(20)
        logits = model(batch).flatten().tolist()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "final_test_b7"
    state = {"module." + k: v for k, v in model.state_dict().items()}
    torch.save({"epoch": 37, "state_dict": state, "bce_best": 0.2}, path, _use_new_zipfile_serialization=False)
    print(json.dumps({"checkpoint": str(path), "entries": len(state), "logits": dict(zip(PHOTOS, logits))}))


if __name__ == "__main__":
    main()
