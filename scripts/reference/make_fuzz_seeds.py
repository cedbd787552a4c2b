#!/usr/bin/env python3
"""Small seed checkpoints for the `checkpoint` fuzz target (fuzz/seeds/checkpoint/), written by the libraries that
write real checkpoints, so the fuzzer starts from every format's real structure at a few hundred bytes:

  zip.pth          torch.save (zip format) of a state_dict with a transposed, a 0-d and an empty tensor
  legacy.pth       the same with _use_new_zipfile_serialization=False (the DFDC checkpoints' format)
  nested.pth       {'state_dict': ..., 'epoch': 3} in the zip format (what training scripts save)
  tiny.safetensors safetensors.torch.save_file of two tensors with metadata

Deterministic (seeded, fixed values). Usage:
  /root/.cache/deepfake-pyref/bin/python scripts/reference/make_fuzz_seeds.py [--out fuzz/seeds/checkpoint]
"""
import argparse
from collections import OrderedDict
from pathlib import Path

import torch
from safetensors.torch import save_file


def state_dict():
    g = torch.Generator().manual_seed(7)
    sd = OrderedDict()
    sd["conv.weight"] = torch.rand(2, 3, generator=g).t()  # transposed: strides (1, 3)
    sd["conv.bias"] = torch.rand(3, generator=g)
    sd["bn.num_batches_tracked"] = torch.tensor(5)  # 0-d
    sd["empty"] = torch.zeros(0, 4)
    return sd


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="fuzz/seeds/checkpoint")
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(state_dict(), out / "zip.pth")
    torch.save(state_dict(), out / "legacy.pth", _use_new_zipfile_serialization=False)
    torch.save({"state_dict": state_dict(), "epoch": 3}, out / "nested.pth")
    g = torch.Generator().manual_seed(8)
    save_file({"a": torch.rand(2, 2, generator=g), "b": torch.arange(3, dtype=torch.int64)}, str(out / "tiny.safetensors"),
              metadata={"deepfake.kind": "mtcnn"})
    for p in sorted(out.iterdir()):
        print(p, p.stat().st_size)


if __name__ == "__main__":
    main()
