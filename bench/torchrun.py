#!/usr/bin/env python3
"""torchrun (torch.distributed.run) of Debian's python3-torch 1.13.1, working on Python 3.11.

On Python 3.11 that torchrun fails before it starts any worker, even `--no_python /bin/true`.
Std.from_str("0") returns None, because IntFlag changed in 3.11, and then to_map() calls
None.get. This wrapper reads a None redirect setting as "no redirect" and runs torchrun as it
is. It is for developer checks only; wrn does not need Python."""
import sys

import torch.distributed.elastic.multiprocessing.api as api
from torch.distributed.elastic.multiprocessing.api import Std

_to_map = api.to_map


def to_map(val_or_map, local_world_size):
    return _to_map(Std.NONE if val_or_map is None else val_or_map, local_world_size)


api.to_map = to_map
import torch.distributed.elastic.multiprocessing as mp  # noqa: E402

mp.to_map = to_map
from torch.distributed.run import main  # noqa: E402

sys.exit(main())
