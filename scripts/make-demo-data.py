#!/usr/bin/env python3
"""Writes data/demo.lp: a deterministic, Telegraf-style recording of a small
service (3 hosts, 1-minute samples, 2 days) with three injected faults, the
bundled input of `make demo`:

  1. day 2, 09:00-09:25  web-2: CPU saturates and request latency climbs
  2. day 2, 14:00        db-1: the disk collector stops reporting (absence)
  3. day 2, 20:00-20:10  web-1: memory jumps and stays up (level shift)

Run: python3 scripts/make-demo-data.py > data/demo.lp
"""
import math
import random

rnd = random.Random(20261123)
T0 = 1700006400  # 2023-11-15T00:00:00Z
STEP = 60
N = 2 * 24 * 60
hosts = ["web-1", "web-2", "db-1"]
out = []
mem = {h: 40.0 + 5 * i for i, h in enumerate(hosts)}
for k in range(N):
    t = T0 + k * STEP
    day_phase = math.sin(2 * math.pi * ((t % 86400) / 86400.0 - 0.25))
    day2 = k - 24 * 60  # minutes into day 2
    for i, h in enumerate(hosts):
        load = 30 + 15 * day_phase + rnd.gauss(0, 2.0)
        user = max(0.0, load * 0.7)
        system = max(0.0, load * 0.2 + rnd.gauss(0, 0.5))
        latency = 45 + 0.4 * load + rnd.gauss(0, 2.5)
        reqs = max(0.0, 200 + 120 * day_phase + rnd.gauss(0, 10))
        if h == "web-2" and 9 * 60 <= day2 < 9 * 60 + 25:
            ramp = min(1.0, (day2 - 9 * 60 + 1) / 5.0)
            user = user + ramp * (95 - user)
            system = system + ramp * 12
            latency = latency + ramp * 400 + rnd.gauss(0, 20)
        if h == "web-1" and day2 >= 20 * 60:
            mem[h] = 78.0 + rnd.gauss(0, 0.3)
        else:
            mem[h] += (40.0 + 5 * i - mem[h]) * 0.05 + rnd.gauss(0, 0.3)
        idle = max(0.0, 100 - user - system)
        ts = t * 1000000000
        out.append(f"cpu,host={h} usage_user={user:.2f},usage_system={system:.2f},usage_idle={idle:.2f} {ts}")
        out.append(f"mem,host={h} used_percent={mem[h]:.2f} {ts}")
        if h.startswith("web"):
            out.append(f"http,host={h} latency_ms={latency:.1f},requests={reqs:.0f}i {ts}")
        if h == "db-1" and not (day2 >= 14 * 60):
            out.append(f"disk,host={h},path=/var/lib/db used_percent={60 + k * 0.0005:.3f},io_util={20 + 0.2 * load + rnd.gauss(0, 1.5):.2f} {ts}")
print("# mend demo recording: 3 hosts, 1-minute samples, 2 days; see scripts/make-demo-data.py")
print("\n".join(out))
