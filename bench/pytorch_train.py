#!/usr/bin/env python3
"""PyTorch reference for `bench/compare_pytorch.sh`: the same training step as `wrn train`.

What this side does (keep it in step with the wrn side in compare_pytorch.sh):
  * Model: Wide ResNet WRN-d-k written as in the WRN authors' PyTorch code
    (szagoruyko/wide-residual-networks, pytorch/resnet.py): a 3x3 conv to 16 channels, three
    groups of (d-4)/6 pre-activation basic blocks (BN-ReLU-conv3x3-BN-ReLU-conv3x3; the
    first BN-ReLU output also feeds a 1x1 strided conv shortcut when the shape changes), a
    final BN-ReLU, global average pooling, a linear classifier. Convolutions without bias,
    kaiming-normal (fan_in, ReLU gain) init. Same structure and parameter count as
    `wrn-D-K` in wrn's registry.
  * Data: the whole training set in memory as a uint8 [N, C, H, W] tensor (loading and
    decoding are set-up, not timed). Each step takes the next 128 indices of a random
    permutation, gathers them, augments the batch with whole-batch tensor ops (random crop
    from the image padded by --pad pixels, reflect or zero padding, random horizontal flip),
    normalizes with the given per-channel mean/std (0..255 scale) and, with
    --channels-last, converts the batch to channels_last. This is what wrn's engine does
    per step (index_select, augment_batch, Normalizer, to channels_last) and is inside
    wrn's timed region too.
  * Step: optimizer.zero_grad(); forward; F.cross_entropy; loss.backward();
    torch.optim.SGD(lr 0.1, momentum 0.9, nesterov=True, weight_decay 5e-4) .step() with
    its defaults (foreach on a 2.x CPU? no: foreach is the default for CUDA tensors only); loss.item() and the
    top-1 count for the running train statistics (wrn reads the loss every step on the
    CPU and accumulates loss/top-1/top-5 on the device).
  * Precision: --precision fp32 (default) runs everything in fp32. --precision bf16 is the
    standard PyTorch user's mixed precision on CPU, one line: forward and loss under
    `torch.autocast("cpu", dtype=torch.bfloat16)`: convolutions and linear layers in bf16
    (BatchNorm and ReLU then take their bf16 outputs as they come), the loss in fp32
    (autocast's fp32 list); backward, the fp32 weights, the SGD step and everything else
    unchanged (no gradient scaler: bf16 has fp32's exponent range).
  * Device: --device cuda (scripts/device/gpu_check.sh) keeps the data set on the CPU, gathers
    each batch there, copies it to the GPU (non_blocking) and augments and normalizes it there,
    as wrn's CUDA path; mixed precision is torch.autocast("cuda", dtype) and fp16 adds
    torch's GradScaler (wrn: the loss scaler). The step ends with loss.item(), a device sync,
    so the summed step times are right; the per-phase split is not (kernels run async).
  * --compile 1: the model wrapped in torch.compile (inductor, default mode), the one line a
    PyTorch 2.x user adds; compilation happens in the untimed warm-up steps.
  * Threads: torch.set_num_threads(--threads) (wrn: at::set_num_threads(--threads)).
  * Timing: --warmup steps first (not timed; oneDNN primitive creation and allocator
    warm-up happen there), then --steps timed steps on a fresh permutation, one full
    pass over the --limit images when --limit == steps * batch (as wrn's second epoch in
    the comparison). images/s = images in the timed steps / sum of the step times.

Data parallel (bench/data_parallel.sh): started by torchrun (WORLD_SIZE set), each rank joins a
Gloo process group and wraps the model in DistributedDataParallel (PyTorch's own bucketed,
overlapped allreduce); --batch stays the global batch and each rank takes its rows r::W of it
(wrn's sharding). Rank 0 prints the JSON, images/s counting the global batch.

Prints one JSON object on stdout (images_per_second, per-phase milliseconds per step, ...).
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------------------
# Model: WRN-d-k as in the authors' PyTorch code (pre-activation basic blocks).

class Block(nn.Module):
    def __init__(self, ni, no, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(ni)
        self.conv1 = nn.Conv2d(ni, no, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(no)
        self.conv2 = nn.Conv2d(no, no, 3, stride=1, padding=1, bias=False)
        self.shortcut = (nn.Conv2d(ni, no, 1, stride=stride, bias=False)
                         if ni != no or stride != 1 else None)

    def forward(self, x):
        o1 = F.relu(self.bn1(x))
        y = self.conv1(o1)
        o2 = F.relu(self.bn2(y))
        z = self.conv2(o2)
        return z + (self.shortcut(o1) if self.shortcut is not None else x)


class WideResNet(nn.Module):
    def __init__(self, depth, width, num_classes, in_channels):
        super().__init__()
        assert (depth - 4) % 6 == 0, "depth must be 6n+4"
        n = (depth - 4) // 6
        widths = [16 * width, 32 * width, 64 * width]
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        layers, ni = [], 16
        for g, no in enumerate(widths):
            blocks = []
            for b in range(n):
                blocks.append(Block(ni, no, 2 if g > 0 and b == 0 else 1))
                ni = no
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.bn = nn.BatchNorm2d(ni)
        self.fc = nn.Linear(ni, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x):
        o = self.conv1(x)
        o = self.layer3(self.layer2(self.layer1(o)))
        o = F.relu(self.bn(o))
        o = F.adaptive_avg_pool2d(o, 1).flatten(1)
        return self.fc(o)


# ---------------------------------------------------------------------------------------
# Data (set-up, not timed).

def load_cifar10(root, limit):
    rec = 1 + 3 * 32 * 32
    parts = []
    for i in range(1, 6):
        raw = np.fromfile(os.path.join(root, f"data_batch_{i}.bin"), dtype=np.uint8)
        parts.append(raw.reshape(-1, rec))
        if limit and sum(len(p) for p in parts) >= limit:
            break
    raw = np.concatenate(parts)
    if limit:
        raw = raw[:limit]
    labels = torch.from_numpy(raw[:, 0].astype(np.int64))
    images = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).copy())
    return images, labels, 10


def load_fashion_mnist(root, limit):
    with gzip.open(os.path.join(root, "train-images-idx3-ubyte.gz"), "rb") as f:
        buf = f.read()
    n, rows, cols = (int.from_bytes(buf[i:i + 4], "big") for i in (4, 8, 12))
    images = np.frombuffer(buf, dtype=np.uint8, offset=16).reshape(n, 1, rows, cols)
    with gzip.open(os.path.join(root, "train-labels-idx1-ubyte.gz"), "rb") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8).astype(np.int64)
    if limit:
        images, labels = images[:limit], labels[:limit]
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.copy()), 10


# ---------------------------------------------------------------------------------------
# Batched augmentation: random crop from the padded image + horizontal flip, whole batch.

def augment(x, pad, pad_mode, flip, gen):
    """x: float [B, C, H, W] on the 0..255 scale (padding happens before normalization,
    as in wrn, so zero padding means black pixels)."""
    b, c, h, w = x.shape
    if pad == 0 and not flip:
        return x
    if pad > 0:
        x = F.pad(x, (pad, pad, pad, pad), mode="reflect" if pad_mode == "reflect" else "constant")
        oy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
        ox = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    else:
        oy = ox = torch.zeros(b, dtype=torch.long)
    rows = oy[:, None] + torch.arange(h)  # [B, H]
    cols = ox[:, None] + torch.arange(w)  # [B, W]
    if flip:
        f = torch.randint(0, 2, (b, 1), generator=gen).bool()
        cols = torch.where(f, cols.flip(1), cols)
    rows, cols = rows.to(x.device), cols.to(x.device)  # drawn on the CPU generator
    hp, wp = x.shape[2], x.shape[3]
    index = (rows[:, :, None] * wp + cols[:, None, :]).view(b, 1, h * w).expand(b, c, h * w)
    return x.reshape(b, c, hp * wp).gather(2, index).view(b, c, h, w)


# ---------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=["cifar10", "fashion-mnist"], required=True)
    p.add_argument("--data", required=True, help="data directory")
    p.add_argument("--depth", type=int, default=16)
    p.add_argument("--width", type=int, default=4)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--limit", type=int, default=0, help="first N training images (0: all)")
    p.add_argument("--pad", type=int, default=4)
    p.add_argument("--pad-mode", choices=["reflect", "zeros"], default="reflect")
    p.add_argument("--flip", type=int, default=1)
    p.add_argument("--mean", type=float, nargs="+", required=True, help="per channel, 0..255 scale")
    p.add_argument("--std", type=float, nargs="+", required=True, help="per channel, 0..255 scale")
    p.add_argument("--channels-last", type=int, default=0)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--foreach", type=int, default=-1,
                   help="torch.optim.SGD foreach: -1 leaves PyTorch's default (investigation only)")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                   help="bf16/fp16: forward + loss under torch.autocast (fp16: CUDA, with a GradScaler)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--compile", type=int, default=0,
                   help="1: torch.compile(model) with inductor's defaults (compiled in the warm-up steps)")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        import torch.distributed as dist
        dist.init_process_group("gloo")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    assert a.precision != "fp16" or dev.type == "cuda", "fp16 needs --device cuda"
    cuda = dev.type == "cuda"
    if a.dataset == "cifar10":
        images, labels, classes = load_cifar10(a.data, a.limit)
    else:
        images, labels, classes = load_fashion_mnist(a.data, a.limit)
    n = images.shape[0]
    assert n >= a.batch, f"{n} images, fewer than one batch of {a.batch}"
    mean = torch.tensor(a.mean, dtype=torch.float32).view(1, -1, 1, 1).to(dev)
    inv_std = 1.0 / torch.tensor(a.std, dtype=torch.float32).view(1, -1, 1, 1).to(dev)
    memory_format = torch.channels_last if a.channels_last else torch.contiguous_format

    model = WideResNet(a.depth, a.width, classes, images.shape[1])
    model = model.to(dev, memory_format=memory_format)
    model.train()
    if a.compile:
        model = torch.compile(model)
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    sgd_kwargs = dict(lr=a.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    if a.foreach >= 0:
        sgd_kwargs["foreach"] = bool(a.foreach)
    optimizer = torch.optim.SGD(model.parameters(), **sgd_kwargs)
    gen = torch.Generator().manual_seed(a.seed)
    steps_per_pass = n // a.batch
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.precision)
    scaler = None
    if a.precision == "fp16":
        scaler = torch.amp.GradScaler("cuda") if hasattr(torch.amp, "GradScaler") else torch.cuda.amp.GradScaler()

    phases = dict(data=0.0, forward=0.0, backward=0.0, optimizer=0.0, stats=0.0)
    timed_images = 0
    timed_seconds = 0.0
    loss_sum = 0.0
    correct = 0

    def run(num_steps, timed):
        nonlocal timed_images, timed_seconds, loss_sum, correct
        perm, pos = None, steps_per_pass
        for _ in range(num_steps):
            if pos == steps_per_pass:  # a new pass over the data: new permutation (not timed)
                perm, pos = torch.randperm(n, generator=gen), 0
            t0 = time.perf_counter()
            idx = perm[pos * a.batch:(pos + 1) * a.batch][rank::world]
            pos += 1
            x = images.index_select(0, idx)
            y = labels.index_select(0, idx)
            if cuda:
                x, y = x.pin_memory().to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            x = x.float()
            x = augment(x, a.pad, a.pad_mode, a.flip, gen)
            x = ((x - mean) * inv_std).contiguous(memory_format=memory_format)
            t1 = time.perf_counter()
            optimizer.zero_grad()
            with torch.autocast(dev.type, enabled=amp_dtype is not None, dtype=amp_dtype or torch.bfloat16):
                logits = model(x)
                loss = F.cross_entropy(logits, y)
            t2 = time.perf_counter()
            (scaler.scale(loss) if scaler else loss).backward()
            t3 = time.perf_counter()
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            t4 = time.perf_counter()
            loss_sum += loss.item() * len(idx)
            correct += (logits.detach().argmax(1) == y).sum().item()
            t5 = time.perf_counter()
            if timed:
                timed_images += len(idx) * world
                timed_seconds += t5 - t0
                for k, dt in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                    phases[k] += dt

    t_start = time.perf_counter()
    run(a.warmup, timed=False)
    warmup_seconds = time.perf_counter() - t_start
    loss_sum, correct = 0.0, 0
    run(a.steps, timed=True)

    out = {
        "side": "pytorch",
        "torch": torch.__version__,
        "device": str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if cuda else ""),
        "threads": torch.get_num_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "model": f"wrn-{a.depth}-{a.width}",
        "params": sum(t.numel() for t in model.parameters()),
        "input": "x".join(str(s) for s in images.shape[1:]),
        "batch": a.batch,
        "channels_last": bool(a.channels_last),
        "precision": a.precision,
        "compile": bool(a.compile),
        "warmup_steps": a.warmup,
        "warmup_seconds": warmup_seconds,
        "steps": a.steps,
        "images": timed_images,
        "seconds": timed_seconds,
        "images_per_second": timed_images / timed_seconds,
        "ms_per_step": {k: 1000.0 * v / a.steps for k, v in phases.items()},
        "train_loss": loss_sum / max(timed_images, 1),
        "train_top1_err": 100.0 * (1.0 - correct / max(timed_images, 1)),
    }
    out["ranks"] = world
    if rank == 0:
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")


if __name__ == "__main__":
    main()
