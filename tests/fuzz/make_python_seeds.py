#!/usr/bin/env python3
"""Seeds from writers independent of wrn (PIL, torch.save) for the fuzz corpus: palette,
16-bit, grey+alpha and RGBA PNGs, a CMYK JPEG, and a torchvision-style state_dict.
    python3 tests/fuzz/make_python_seeds.py tests/fuzz/corpus
"""
import collections
import os
import sys

import torch
from PIL import Image

root = sys.argv[1]
os.makedirs(f"{root}/image", exist_ok=True)
os.makedirs(f"{root}/pt", exist_ok=True)
pixels = bytes(i * 37 % 256 for i in range(8 * 8 * 4))
Image.frombytes("P", (8, 8), pixels[:64]).save(f"{root}/image/palette.png")
Image.frombytes("I;16", (8, 8), pixels[:128]).save(f"{root}/image/grey16.png")
Image.frombytes("LA", (8, 8), pixels[:128]).save(f"{root}/image/grey_alpha.png")
Image.frombytes("RGBA", (8, 8), pixels).save(f"{root}/image/rgba.png")
Image.frombytes("CMYK", (8, 8), pixels).save(f"{root}/image/cmyk.jpg", quality=90)
torch.manual_seed(0)
state = collections.OrderedDict(
    [("conv1.weight", torch.randn(2, 1, 3, 3)), ("bn1.running_var", torch.ones(2)),
     ("bn1.num_batches_tracked", torch.tensor(5)), ("fc.bias", torch.zeros(3, dtype=torch.float16))])
state._metadata = collections.OrderedDict([("", {"version": 1}), ("bn1", {"version": 2})])
torch.save(state, f"{root}/pt/torchvision_style.pt")
