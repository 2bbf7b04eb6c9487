"""Developer probe for issue 8 (bf16): PyTorch fp32 vs torch.cpu.amp bf16 training of a
WRN-16-4-shaped body (no shortcuts) and 2048^3 matmul GFLOP/s, 2 threads. Needs python3-torch.
Not a wrn benchmark: it only says whether bf16 pays on this CPU (run: /usr/bin/python3 bench/bf16_probe.py).
--profile: where the time of a bf16 step goes when it runs the way wrn runs it (convolutions and the
classifier in bf16, BatchNorm with fp32 parameters, no autocast), by torch.profiler operator."""
import sys
import time, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(2)
def block(cin, cout, stride):
    return nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(), nn.Conv2d(cout, cout, 3, 1, 1, bias=False))
# WRN-16-4-like body (no shortcuts: enough for a kernel-speed comparison)
net = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), block(16, 64, 1), block(64, 64, 1),
                    block(64, 128, 2), block(128, 128, 1), block(128, 256, 2), block(256, 256, 1),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10)).to(memory_format=torch.channels_last)
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
x = torch.randn(128, 3, 32, 32).to(memory_format=torch.channels_last); y = torch.randint(0, 10, (128,))
def step(bf16):
    with torch.cpu.amp.autocast(enabled=bf16, dtype=torch.bfloat16):
        loss = F.cross_entropy(net(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
for bf16 in (False, True):
    for _ in range(2): step(bf16)
    t = time.time(); n = 4
    for _ in range(n): step(bf16)
    print(("bf16 autocast" if bf16 else "fp32"), "train img/s %.1f" % (128 * n / (time.time() - t)))
a = torch.randn(2048, 2048); b = torch.randn(2048, 2048)
for dt in (torch.float32, torch.bfloat16):
    A, B = a.to(dt), b.to(dt); A @ B
    t = time.time(); r = 3
    for _ in range(r): A @ B
    print(dt, "matmul GFLOP/s %.0f" % (2 * 2048**3 * r / (time.time() - t) / 1e9))
if "--profile" in sys.argv:
    from torch.profiler import profile, ProfilerActivity
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)): m.bfloat16()  # BatchNorm stays fp32, as in wrn
    def wrn_like_step():
        loss = F.cross_entropy(net(x.bfloat16()).float(), y)
        opt.zero_grad(); loss.backward(); opt.step()
    for _ in range(2): wrn_like_step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(2): wrn_like_step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
