#!/usr/bin/env python3
"""Fixtures for the EfficientNet classifier parity tests (tests/fixtures/effnet/).

Two tiny EfficientNets built by timm's own builder, each wrapped in the DFDC
`DeepFakeClassifier` layout (encoder + avg_pool + dropout + fc), with randomised
BatchNorm statistics so that a wrong eps, a missing BN or a swapped mean/var shows up:

  a  exactly what timm's tf_efficientnet_b7 does, with other multipliers:
     _gen_efficientnet('tf_efficientnet_b0', channel_multiplier=0.25, depth_multiplier=0.5,
                       channel_divisor=8, bn_eps=1e-3, pad_type='same', num_classes=1000)
  b  two blocks in every stage (so every stage, stage 0 included, has a residual block),
     channels round_channels(c, multiplier=0.125, divisor=4), EfficientNet(...) called directly.

For each model X in {a, b} it writes
  X_dfdc_legacy.pth    {'epoch', 'state_dict' ('module.' keys), 'bce_best'} in the legacy
                       (pre-1.6, non-zip) torch.save format, like the released DFDC checkpoints
  X_plain.pth          torch.save(model.state_dict()) (zip format, no prefix)
  X.safetensors        the same state_dict as safetensors (num_batches_tracked as int64)
  X_timm_imagenet.pth  torch.save(encoder.state_dict()): a timm ImageNet checkpoint look-alike
  X_io.safetensors     inputs and the expected logits / pooled features (float32)
  X.json               the architecture in a neutral form for the Rust builder
plus corrupt variants of a (a_missing_key, a_renamed_key, a_extra_key, a_wrong_shape .safetensors)
and param_counts.json for timm tf_efficientnet_b0..b7.

Deterministic: fixed seeds, one thread; running it twice gives byte-identical files.

    . "${PYREF_VENV:-$HOME/.cache/deepfake-pyref}/bin/activate"
    python scripts/reference/make_effnet_fixtures.py [--out tests/fixtures/effnet]
"""

import argparse
import tempfile
import collections
import hashlib
import io
import json
import math
import pickle
import pickletools
import random
import warnings
from functools import partial
from pathlib import Path

import torch
import torch.nn as nn
import timm
from safetensors.torch import load_file, save_file
from timm.layers import get_act_layer
from timm.layers.conv2d_same import Conv2dSame
from timm.models._efficientnet_builder import BN_EPS_TF_DEFAULT, decode_arch_def, round_channels
from timm.models.efficientnet import EfficientNet, _gen_efficientnet

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "tests" / "fixtures" / "effnet"
GENERATOR = "scripts/reference/make_effnet_fixtures.py"
# One entry only: safetensors writes __metadata__ from a hash map, so with two entries their
# order (and the file's bytes) changes from run to run.
ST_META = {"format": "pt"}

# timm's B0 definition (timm.models.efficientnet._gen_efficientnet); every B-size scales it.
B0_ARCH = [
    ["ds_r1_k3_s1_e1_c16_se0.25"],
    ["ir_r2_k3_s2_e6_c24_se0.25"],
    ["ir_r2_k5_s2_e6_c40_se0.25"],
    ["ir_r3_k3_s2_e6_c80_se0.25"],
    ["ir_r3_k5_s1_e6_c112_se0.25"],
    ["ir_r4_k5_s2_e6_c192_se0.25"],
    ["ir_r1_k3_s1_e6_c320_se0.25"],
]
# Model b: B0's kernels/strides/channels, but two blocks in every stage.
B_ARCH = [
    ["ds_r2_k3_s1_e1_c16_se0.25"],
    ["ir_r2_k3_s2_e6_c24_se0.25"],
    ["ir_r2_k5_s2_e6_c40_se0.25"],
    ["ir_r2_k3_s2_e6_c80_se0.25"],
    ["ir_r2_k5_s1_e6_c112_se0.25"],
    ["ir_r2_k5_s2_e6_c192_se0.25"],
    ["ir_r2_k3_s1_e6_c320_se0.25"],
]

# (channel_multiplier, depth_multiplier) of timm's tf_efficientnet_b0..b7.
TF_EFFNETS = {
    "tf_efficientnet_b0": (1.0, 1.0), "tf_efficientnet_b1": (1.0, 1.1),
    "tf_efficientnet_b2": (1.1, 1.2), "tf_efficientnet_b3": (1.2, 1.4),
    "tf_efficientnet_b4": (1.4, 1.8), "tf_efficientnet_b5": (1.6, 2.2),
    "tf_efficientnet_b6": (1.8, 2.6), "tf_efficientnet_b7": (2.0, 3.1),
}
B7_PARAMS_WITHOUT_CLASSIFIER = 63_786_960


class DeepFakeClassifier(nn.Module):
    """The DFDC wrapper layout: encoder.forward_features -> avg pool -> flatten -> dropout -> fc.

    The timm encoder keeps its (unused) ImageNet classifier, so checkpoints carry
    `encoder.classifier.*` exactly like the released DFDC weights.
    """

    def __init__(self, encoder, dropout_rate=0.0):
        super().__init__()
        self.encoder = encoder
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout_rate)
        self.fc = nn.Linear(encoder.num_features, 1)

    def features(self, x):
        return self.avg_pool(self.encoder.forward_features(x)).flatten(1)

    def forward(self, x):
        return self.fc(self.dropout(self.features(x)))


class DataParallelLike(nn.Module):
    """Stands in for (apex) DistributedDataParallel: its state_dict has the `module.` prefix
    and is the same OrderedDict (with `_metadata`) that DDP's state_dict() returns."""

    def __init__(self, module):
        super().__init__()
        self.module = module


# ---------------------------------------------------------------------------------------------
# Model definitions

# The encoders keep timm's `classifier` (the DFDC checkpoints carry the unused 1000-class ImageNet head, and the
# loader must accept and ignore `encoder.classifier.*`), but with 10 classes: the key names are what matters, and
# 1000 classes would triple the fixtures' size.
FIXTURE_CLASSES = 10


def build_encoder_a():
    # Same call as timm's tf_efficientnet_b7(): bn_eps=BN_EPS_TF_DEFAULT, pad_type='same',
    # _gen_efficientnet(channel_multiplier=2.0, depth_multiplier=3.1) with the default divisor 8.
    return _gen_efficientnet(
        "tf_efficientnet_b0", channel_multiplier=0.25, depth_multiplier=0.5, channel_divisor=8,
        pretrained=False, bn_eps=BN_EPS_TF_DEFAULT, pad_type="same", num_classes=FIXTURE_CLASSES)


def build_encoder_b():
    rc = partial(round_channels, multiplier=0.125, divisor=4)
    return EfficientNet(
        block_args=decode_arch_def(B_ARCH, 1.0), num_features=rc(1280), stem_size=32,
        round_chs_fn=rc, act_layer=get_act_layer("swish"),
        norm_layer=partial(nn.BatchNorm2d, eps=BN_EPS_TF_DEFAULT), pad_type="same",
        num_classes=FIXTURE_CLASSES)


MODELS = {
    "a": dict(
        build=build_encoder_a, arch=B0_ARCH, channel_multiplier=0.25, depth_multiplier=0.5,
        channel_divisor=8, seed=1001, all_formats=False,
        notes=("timm 1.0.31: timm.models.efficientnet._gen_efficientnet('tf_efficientnet_b0', "
               "channel_multiplier=0.25, depth_multiplier=0.5, channel_divisor=8, pretrained=False, "
               "bn_eps=BN_EPS_TF_DEFAULT (1e-3), pad_type='same', num_classes=10 (fixture head; DFDC has 1000)). This is exactly "
               "how timm.create_model('tf_efficientnet_b7') builds B7 (channel_multiplier=2.0, "
               "depth_multiplier=3.1, channel_divisor 8 by default), only the multipliers differ. "
               "Act swish (SiLU), SE gate sigmoid, se_from_exp=False. Inside _gen_efficientnet: "
               "num_features = round_channels(1280, channel_multiplier, channel_divisor) and "
               "EfficientNet rounds stem_size=32 with the same function (fix_stem=False).")),
    "b": dict(
        build=build_encoder_b, arch=B_ARCH, channel_multiplier=0.125, depth_multiplier=1.0,
        channel_divisor=4, seed=2002,
        notes=("timm 1.0.31: rc = partial(round_channels, multiplier=0.125, divisor=4); "
               "EfficientNet(block_args=decode_arch_def(block_strings, 1.0), num_features=rc(1280), "
               "stem_size=32, round_chs_fn=rc, act_layer=get_act_layer('swish'), "
               "norm_layer=partial(nn.BatchNorm2d, eps=BN_EPS_TF_DEFAULT (1e-3)), pad_type='same', "
               "num_classes=10). EfficientNet rounds stem_size with round_chs_fn (fix_stem=False); "
               "num_features is passed already rounded. Two blocks in every stage so that every "
               "stage has a residual block.")),
}


# ---------------------------------------------------------------------------------------------
# Helpers


def count(params):
    return sum(p.numel() for p in params)


def params_without_classifier(encoder):
    return sum(p.numel() for n, p in encoder.named_parameters() if not n.startswith("classifier."))


def randomise(model, gen):
    """Random BN statistics/affine (timm's init, mean 0 / var 1 / weight 1 / bias 0, hides BN bugs)
    and random SE / classifier biases (timm initialises every bias to zero)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_var.copy_(torch.empty(n).uniform_(0.3, 2.0, generator=gen))
                m.weight.copy_(torch.empty(n).uniform_(0.5, 1.5, generator=gen))
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)
                m.num_batches_tracked.fill_(int(torch.randint(1, 100_000, (1,), generator=gen)))
        for name, p in model.named_parameters():
            if name.endswith("bias") and ("se.conv_" in name or "classifier" in name):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)


def normalise_convs(model, x):
    """Rescale every conv weight so its output has unit std on the calibration batch x.

    With timm's fan-out init and eval-mode BN whose running statistics do not match the real
    activations, the input-dependent part of the signal shrinks ~100x by the head and every input
    maps to nearly the same features; the fc scaling would then amplify float noise. A
    layer-sequential unit-variance pass (in forward order, after the BN randomisation) keeps the
    features input-dependent. Only conv weights change; the BN parameters stay as randomised."""
    convs = [m for m in model.encoder.modules() if isinstance(m, nn.Conv2d)]
    with torch.inference_mode():
        for conv in convs:
            seen = []
            h = conv.register_forward_hook(lambda m, i, o: seen.append(float(o.std())))
            model.features(x)
            h.remove()
            conv.weight.mul_(1.0 / seen[0])


def scale_fc(model, inputs, gen):
    """Set fc so the logits of all test inputs spread over [-4.5, 4.5] (default init: ~ -0.01)."""
    with torch.inference_mode():
        feats = torch.cat([model.features(x) for x in inputs])
    w = torch.randn(1, feats.shape[1], generator=gen)
    raw = (feats @ w.t()).flatten()
    lo, hi = float(raw.min()), float(raw.max())
    s = 9.0 / (hi - lo)
    with torch.no_grad():
        model.fc.weight.copy_(w * s)
        model.fc.bias.fill_(-s * (hi + lo) / 2)
    return feats


def contiguous(sd):
    return collections.OrderedDict((k, v.detach().clone().contiguous()) for k, v in sd.items())


def same_pad(size, k, s):
    pad = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return [pad // 2, pad - pad // 2]


def dynamic_pads(encoder, x):
    """[name, in_hw, [top, bottom], [left, right]] for every Conv2dSame, as run on x."""
    rows, hooks = [], []
    for name, m in encoder.named_modules():
        if isinstance(m, Conv2dSame):
            def hook(mod, args, name=name):
                h, w = args[0].shape[-2:]
                k, s = mod.kernel_size, mod.stride
                rows.append([name, [h, w], same_pad(h, k[0], s[0]), same_pad(w, k[1], s[1])])
            hooks.append(m.register_forward_pre_hook(hook))
    with torch.inference_mode():
        encoder.forward_features(x)
    for h in hooks:
        h.remove()
    return rows


def block_table(encoder):
    """One row per block: what the Rust builder must derive from the block strings."""
    rows = []
    for si, stage in enumerate(encoder.blocks):
        for bi, blk in enumerate(stage):
            kind = type(blk).__name__
            dw = blk.conv_dw
            row = dict(
                name=f"blocks.{si}.{bi}",
                type={"DepthwiseSeparableConv": "ds", "InvertedResidual": "ir"}[kind],
                in_chs=(blk.conv_dw.in_channels if kind == "DepthwiseSeparableConv"
                        else blk.conv_pw.in_channels),
                mid_chs=dw.out_channels,
                out_chs=(blk.conv_pw.out_channels if kind == "DepthwiseSeparableConv"
                         else blk.conv_pwl.out_channels),
                kernel=dw.kernel_size[0], stride=dw.stride[0],
                se_rd_chs=blk.se.conv_reduce.out_channels,
                has_skip=bool(blk.has_skip),
                conv_dw_dynamic_same_pad=isinstance(dw, Conv2dSame),
            )
            rows.append(row)
    return rows


def check_conv_padding(encoder):
    """Stride-2 convs are Conv2dSame (dynamic pad); every other conv is nn.Conv2d with k//2."""
    for name, m in encoder.named_modules():
        if isinstance(m, nn.Conv2d):
            if m.stride[0] > 1:
                assert isinstance(m, Conv2dSame) and m.padding == (0, 0), name
            else:
                assert type(m) is nn.Conv2d, name
                assert m.padding == (m.kernel_size[0] // 2, m.kernel_size[1] // 2), name


def save_legacy(obj, path, seed):
    """torch.save(obj, path, _use_new_zipfile_serialization=False), made reproducible.

    The legacy (pre-1.6) format names each storage by its memory address (str(storage._cdata))
    and writes the storage data in the *string-sorted* order of those names, so torch's own
    writer gives different bytes on every run. This writer emits the same records
    (magic, protocol 1001, sys_info, the object pickle with ('storage', FloatStorage, key,
    'cpu', numel, None) persistent ids, the sorted key list, then per storage int64 numel +
    raw little-endian data) with seeded fake 14-digit addresses, so, as in the real DFDC
    files, the data order differs from the order tensors appear in the pickle."""
    from torch import serialization as ser

    rng = random.Random(seed)
    keys, storages = {}, {}

    class LegacyPickler(pickle.Pickler):
        def persistent_id(self, obj):
            if not isinstance(obj, torch.storage.TypedStorage):
                return None
            storage = obj._untyped_storage
            key = keys.get(storage._cdata)
            if key is None:
                key = str(rng.randrange(10**13, 10**14) // 64 * 64)
                assert key not in storages
                keys[storage._cdata] = key
                storages[key] = (storage, obj.dtype)
            return ("storage", getattr(torch, obj._pickle_storage_type()), key,
                    ser.location_tag(storage), obj._size(), None)

    sys_info = {"protocol_version": ser.PROTOCOL_VERSION, "little_endian": True,
                "type_sizes": {"short": ser.SHORT_SIZE, "int": ser.INT_SIZE, "long": ser.LONG_SIZE}}
    with open(path, "wb") as f:
        pickle.dump(ser.MAGIC_NUMBER, f, protocol=2)
        pickle.dump(ser.PROTOCOL_VERSION, f, protocol=2)
        pickle.dump(sys_info, f, protocol=2)
        LegacyPickler(f, protocol=2).dump(obj)
        order = sorted(storages)
        pickle.dump(order, f, protocol=2)
        f.flush()
        for key in order:
            storage, dtype = storages[key]
            storage._write_file(f, ser._should_read_directly(f), True,
                                torch._utils._element_size(dtype))


def check_legacy_like_torch(obj, path):
    """Our file has torch's legacy layout: same length as torch's own output (addresses are
    14 digits on this machine too), same pickle opcodes, and loads to the same tensors."""
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False)
    ours = Path(path).read_bytes()
    theirs = buf.getvalue()
    assert not ours.startswith(b"PK") and not theirs.startswith(b"PK")

    def opcodes(data):
        f, ops = io.BytesIO(data), []
        for _ in range(5):  # magic, protocol, sys_info, object, key list
            ops.append([op.name for op, _, _ in pickletools.genops(f)])
        return ops, len(data) - f.tell()

    assert opcodes(ours) == opcodes(theirs), "pickle structure differs from torch's legacy writer"
    a = torch.load(io.BytesIO(ours), map_location="cpu")
    b = torch.load(io.BytesIO(theirs), map_location="cpu")
    assert a.keys() == b.keys() and a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert getattr(a["state_dict"], "_metadata", None) == getattr(b["state_dict"], "_metadata", None)


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fresh(spec, seed=0):
    """An un-randomised model of the same architecture (different init) for reload checks."""
    torch.manual_seed(seed)
    return DeepFakeClassifier(spec["build"]()).eval()


def load_strict(model, sd):
    model.load_state_dict(sd, strict=True)
    return model


# ---------------------------------------------------------------------------------------------
# Fixture writers


def check_builder_matches_timm():
    """_gen_efficientnet with the tf_ kwargs builds the same network as timm.create_model."""
    for name in ("tf_efficientnet_b0", "tf_efficientnet_b7"):
        cm, dm = TF_EFFNETS[name]
        ours = _gen_efficientnet(name, channel_multiplier=cm, depth_multiplier=dm, channel_divisor=8,
                                 pretrained=False, bn_eps=BN_EPS_TF_DEFAULT, pad_type="same",
                                 num_classes=1000)
        ref = timm.create_model(name, pretrained=False)
        assert repr(ours) == repr(ref), name
        assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
               [(k, v.shape) for k, v in ref.state_dict().items()], name
        del ours, ref


def make_model(key, spec, out):
    gen = torch.Generator().manual_seed(spec["seed"])
    torch.manual_seed(spec["seed"])
    encoder = spec["build"]()
    check_conv_padding(encoder)
    model = DeepFakeClassifier(encoder).eval()
    randomise(model, gen)
    normalise_convs(model, torch.randn(8, 3, 64, 64, generator=gen))

    input_64 = torch.randn(2, 3, 64, 64, generator=gen)
    input_odd = torch.randn(2, 3, 57, 45, generator=gen)
    feats = scale_fc(model, [input_64, input_odd], gen)

    with torch.inference_mode():
        logits_64, logits_odd = model(input_64), model(input_odd)
        features_64, features_odd = model.features(input_64), model.features(input_odd)
    assert torch.equal(torch.cat([features_64, features_odd]), feats)
    logits = torch.cat([logits_64, logits_odd]).flatten()
    assert float(logits.abs().max()) <= 5.0 and float(logits.max() - logits.min()) > 5.0, logits

    sd = contiguous(model.state_dict())
    enc_sd = contiguous(encoder.state_dict())
    paths = {}

    # Legacy non-zip pickle, DDP-prefixed, wrapped the way train_classifier.py saved it.
    ddp_sd = DataParallelLike(model).state_dict()
    assert list(ddp_sd) == ["module." + k for k in sd]
    p = out / f"{key}_dfdc_legacy.pth"
    ckpt = {"epoch": 3, "state_dict": ddp_sd, "bce_best": 0.25}
    save_legacy(ckpt, p, seed=spec["seed"])
    assert not p.read_bytes().startswith(b"PK"), "legacy file must not be a zip"
    check_legacy_like_torch(ckpt, p)
    paths["legacy"] = p

    # Model a keeps only the DFDC legacy file and safetensors in the fixtures (model b covers every format);
    # its other files are still written and checked, in a scratch folder.
    side = out if spec.get("all_formats", True) else Path(tempfile.mkdtemp(prefix="effnet_side_"))
    p = side / f"{key}_plain.pth"
    torch.save(model.state_dict(), p)
    assert p.read_bytes().startswith(b"PK")
    paths["plain"] = p

    p = out / f"{key}.safetensors"
    save_file(sd, p, metadata=ST_META)
    paths["safetensors"] = p

    p = side / f"{key}_timm_imagenet.pth"
    torch.save(encoder.state_dict(), p)
    paths["timm_imagenet"] = p

    io = collections.OrderedDict(
        input_64=input_64, input_odd=input_odd, logits_64=logits_64, logits_odd=logits_odd,
        features_64=features_64, features_odd=features_odd)
    io = collections.OrderedDict((k, v.float().contiguous()) for k, v in io.items())
    p = out / f"{key}_io.safetensors"
    save_file(io, p, metadata=ST_META)
    paths["io"] = p

    # --- reload checks: every checkpoint reproduces the outputs bit-exactly -------------------
    def check_logits(m, what):
        with torch.inference_mode():
            assert torch.equal(m(input_64), logits_64), what
            assert torch.equal(m(input_odd), logits_odd), what

    ck = torch.load(paths["legacy"], map_location="cpu")  # weights_only=True default
    assert ck["epoch"] == 3 and ck["bce_best"] == 0.25
    stripped = {k[len("module."):]: v for k, v in ck["state_dict"].items()}
    check_logits(load_strict(fresh(spec), stripped), "legacy")
    check_logits(load_strict(fresh(spec), torch.load(paths["plain"], map_location="cpu")), "plain")
    st = load_file(paths["safetensors"])
    assert st["encoder.bn1.num_batches_tracked"].dtype == torch.int64
    check_logits(load_strict(fresh(spec), st), "safetensors")
    enc = load_strict(fresh(spec).encoder, torch.load(paths["timm_imagenet"], map_location="cpu"))
    with torch.inference_mode():
        pool = nn.AdaptiveAvgPool2d((1, 1))
        assert torch.equal(pool(enc.forward_features(input_64)).flatten(1), features_64)
        assert torch.equal(pool(enc.forward_features(input_odd)).flatten(1), features_odd)
    io_back = load_file(paths["io"])
    assert all(torch.equal(io_back[k], io[k]) for k in io)

    # --- architecture description ------------------------------------------------------------
    nf = encoder.num_features
    stem = encoder.conv_stem.out_channels
    rc = partial(round_channels, multiplier=spec["channel_multiplier"], divisor=spec["channel_divisor"])
    assert stem == rc(32) and nf == rc(1280)
    blocks = block_table(encoder)
    n_entries = len(sd)
    desc = collections.OrderedDict(
        block_strings=spec["arch"],
        channel_multiplier=spec["channel_multiplier"],
        depth_multiplier=spec["depth_multiplier"],
        channel_divisor=spec["channel_divisor"],
        depth_trunc="ceil",
        round_limit=0.9,
        stem_size=32,
        num_features=1280,
        num_features_rounding=("num_features = round_channels(1280, channel_multiplier, channel_divisor) "
                               "= make_divisible(1280*m, divisor); the stem is rounded the same way"),
        bn_eps=BN_EPS_TF_DEFAULT,
        act="silu",
        pad_type="same",
        num_classes_encoder=FIXTURE_CLASSES,
        param_count_total=count(model.parameters()),
        param_count_encoder=count(encoder.parameters()),
        param_count_encoder_without_classifier=params_without_classifier(encoder),
        state_dict_entries=n_entries,
        state_dict_entries_num_batches_tracked=sum(k.endswith("num_batches_tracked") for k in sd),
        rounded_stem=stem,
        rounded_num_features=nf,
        head_in_chs=encoder.conv_head.in_channels,
        blocks_per_stage=[len(s) for s in encoder.blocks],
        stage_out_channels=[s[-1].conv_pw.out_channels if i == 0 else s[-1].conv_pwl.out_channels
                            for i, s in enumerate(encoder.blocks)],
        rules=collections.OrderedDict(
            make_divisible="make_divisible(v, d) = max(d, int(v + d/2) // d * d), plus d if that is < 0.9*v",
            channels="stem, stage out and head channels = make_divisible(c * channel_multiplier, "
                     "channel_divisor) (timm round_channels)",
            repeats="repeats = ceil(r * depth_multiplier) (one block def per stage); only the first "
                    "block of a stage has the stage stride",
            mid_chs="ir: make_divisible(in_chs * e, 8) (divisor 8 hard-coded, not channel_divisor); "
                    "ds: mid = in_chs (no expansion conv)",
            se_rd_chs="round(mid_chs * (se / e)) with Python round (half to even) = se * block in_chs "
                      "here; SE acts on mid chs; conv_reduce/conv_expand have biases; SiLU inside, "
                      "sigmoid gate",
            skip="residual iff stride == 1 and in_chs == out_chs",
            padding="stride-2 convs (conv_stem, first conv_dw of strided stages) are Conv2dSame: "
                    "pad = max((ceil(i/s)-1)*s + k - i, 0), top/left pad//2, bottom/right the rest; "
                    "every other conv is nn.Conv2d with symmetric padding k//2",
            activations="SiLU after bn1 (stem), each block's bn1 (and ir bn2), head bn2; none after the "
                        "projection BN (ds bn2, ir bn3)",
            bn="eval: (x - running_mean) / sqrt(running_var + bn_eps) * weight + bias",
        ),
        blocks=blocks,
        conv2d_same=[n for n, m in encoder.named_modules() if isinstance(m, Conv2dSame)],
        dynamic_pads_64=dynamic_pads(encoder, input_64),
        dynamic_pads_odd=dynamic_pads(encoder, input_odd),
        feature_map_hw_64=list(encoder.forward_features(input_64).shape[-2:]),
        feature_map_hw_odd=list(encoder.forward_features(input_odd).shape[-2:]),
        files={k: {"file": v.name, "sha256": sha256(v)} for k, v in paths.items()},
        notes=spec["notes"] + (" Fixture weights: timm init, then every BatchNorm randomised "
                               "(running_mean N(0,0.2), running_var U(0.3,2), weight U(0.5,1.5), bias "
                               "N(0,0.2), num_batches_tracked random int), SE conv and classifier biases "
                               "N(0,0.1), fc scaled so the 4 test logits span [-4.5, 4.5]. Generated by "
                               + GENERATOR + "."),
    )
    (out / f"{key}.json").write_text(json.dumps(desc, indent=1) + "\n")

    summary = dict(key=key, params=desc["param_count_total"], entries=n_entries,
                   blocks_per_stage=desc["blocks_per_stage"], stem=stem, num_features=nf,
                   logits_64=logits_64.flatten().tolist(), logits_odd=logits_odd.flatten().tolist(),
                   feature_absmax=float(feats.abs().max()),
                   feature_std_across_inputs=float(feats.std(0).mean()),
                   fc_weight_l2=float(model.fc.weight.detach().norm()))
    print(json.dumps(summary))
    return model, sd


def make_corrupt_variants(sd, out):
    nf = sd["fc.weight"].shape[1]
    variants = collections.OrderedDict()

    missing = collections.OrderedDict(sd)
    del missing["encoder.blocks.1.0.conv_dw.weight"]
    variants["a_missing_key"] = (missing, "Missing key(s)", "encoder.blocks.1.0.conv_dw.weight")

    renamed = collections.OrderedDict((("fc.weights" if k == "fc.weight" else k), v) for k, v in sd.items())
    variants["a_renamed_key"] = (renamed, "Unexpected key(s)", "fc.weights")

    extra = collections.OrderedDict(sd)
    extra["encoder.blocks.9.0.conv_dw.weight"] = torch.linspace(-1, 1, 72).reshape(8, 1, 3, 3)
    variants["a_extra_key"] = (extra, "Unexpected key(s)", "encoder.blocks.9.0.conv_dw.weight")

    wrong = collections.OrderedDict(sd)
    wrong["fc.weight"] = torch.cat([sd["fc.weight"], torch.full((1, 1), 0.5)], dim=1).contiguous()
    assert wrong["fc.weight"].shape == (1, nf + 1)
    variants["a_wrong_shape"] = (wrong, "size mismatch", "fc.weight")

    # The Rust tests build the same variants from a.safetensors at test time; here they only prove that torch's
    # strict load refuses them too, so they are written to a scratch folder, not committed.
    scratch = Path(tempfile.mkdtemp(prefix="effnet_corrupt_"))
    for name, (vsd, err, key) in variants.items():
        p = scratch / f"{name}.safetensors"
        save_file(vsd, p, metadata=ST_META)
        back = load_file(p)
        try:
            fresh(MODELS["a"]).load_state_dict(back, strict=True)
        except RuntimeError as e:
            assert err in str(e) and key in str(e), (name, str(e))
        else:
            raise AssertionError(f"{name} loaded strictly")
        print(json.dumps({"corrupt": p.name, "expect": err, "key": key}))


def make_param_counts(out):
    rows = collections.OrderedDict()
    for name, (cm, dm) in TF_EFFNETS.items():
        torch.manual_seed(0)
        m = timm.create_model(name, pretrained=False)
        sd = m.state_dict()
        rows[name] = collections.OrderedDict(
            channel_multiplier=cm, depth_multiplier=dm,
            total_params=count(m.parameters()),
            params_without_classifier=params_without_classifier(m),
            num_features=m.num_features,
            stem_channels=m.conv_stem.out_channels,
            blocks_per_stage=[len(s) for s in m.blocks],
            stage_out_channels=[s[-1].conv_pw.out_channels if i == 0 else s[-1].conv_pwl.out_channels
                                for i, s in enumerate(m.blocks)],
            state_dict_entries=len(sd),
            state_dict_numel=sum(v.numel() for v in sd.values()),
        )
        del m, sd
        print(json.dumps({name: rows[name]}))
    assert rows["tf_efficientnet_b7"]["params_without_classifier"] == B7_PARAMS_WITHOUT_CLASSIFIER
    assert rows["tf_efficientnet_b7"]["num_features"] == 2560
    assert rows["tf_efficientnet_b7"]["blocks_per_stage"] == [4, 7, 7, 10, 10, 13, 4]
    doc = collections.OrderedDict(
        timm=timm.__version__, torch=torch.__version__.split("+")[0],
        note=("timm.create_model(name, pretrained=False); params_without_classifier excludes "
              "classifier.weight/bias (1000 ImageNet classes); state_dict_entries include "
              "num_batches_tracked. The DFDC wrapper adds fc.weight/fc.bias (+num_features+1 params, "
              "+2 entries). Generated by " + GENERATOR + "."),
        models=rows)
    (out / "param_counts.json").write_text(json.dumps(doc, indent=1) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--skip-param-counts", action="store_true",
                    help="do not build B0..B7 (B7 takes ~270 MB and some seconds)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(1)  # conv kernels may order sums by thread count; keep outputs reproducible
    args.out.mkdir(parents=True, exist_ok=True)
    print(json.dumps({"torch": torch.__version__, "timm": timm.__version__, "out": str(args.out)}))

    check_builder_matches_timm()
    sds = {}
    for key, spec in MODELS.items():
        _, sds[key] = make_model(key, spec, args.out)
    make_corrupt_variants(sds["a"], args.out)
    if not args.skip_param_counts:
        make_param_counts(args.out)

    total = 0
    for p in sorted(args.out.iterdir()):
        total += p.stat().st_size
        print(f"{p.stat().st_size:>10}  {p.name}  {sha256(p)[:16]}")
    print(f"{total:>10}  total")


if __name__ == "__main__":
    main()
