#!/usr/bin/env python3
"""Upper bounds of continuous batching over static and one-at-a-time serving, from measured
decode-step rates (docs/server.md, "The ceiling on this machine").

Decode only (prefill is the same work in every mode and lowers every ratio further). Step time
at batch b is interpolated linearly between the measured points. Static: batches of --batch
requests in order, each running until its longest member is done with the members still
generating in the step. Continuous: the batch refilled from the queue at every step.

Usage: scripts/batching_ceiling.py --rates 1:96.3,4:202.7,16:284.2
  (rates: tok/s of `dsrt bench suite --only model.decode_batch`, batch:rate pairs)
"""
import argparse
import random


def step_time(rates, b):
    ks = sorted(rates)
    st = {k: k / rates[k] for k in ks}
    if b <= ks[0]:
        return st[ks[0]] * b / ks[0]
    for a, c in zip(ks, ks[1:]):
        if b <= c:
            return st[a] + (st[c] - st[a]) * (b - a) / (c - a)
    return st[ks[-1]] * b / ks[-1]


def simulate(rates, lens, batch):
    t_static = 0.0
    for i in range(0, len(lens), batch):
        g = lens[i:i + batch]
        for s in range(max(g)):
            t_static += step_time(rates, sum(1 for x in g if x > s))
    t_cont, queue, active = 0.0, list(lens), []
    while queue or active:
        while len(active) < batch and queue:
            active.append(queue.pop(0))
        t_cont += step_time(rates, len(active))
        active = [x - 1 for x in active if x > 1]
    return t_static / t_cont


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", required=True, help="batch:tok/s pairs, e.g. 1:96.3,4:202.7,16:284.2")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    try:
        rates = {int(k): float(v) for k, v in (p.split(":") for p in a.rates.split(","))}
    except ValueError:
        ap.error("--rates must be batch:rate pairs such as 1:96.3,16:284.2")
    if 1 not in rates or any(v <= 0 for v in rates.values()):
        ap.error("--rates needs batch 1 and positive rates")
    random.seed(a.seed)

    def exp_len():
        while True:
            v = 4 + round(random.expovariate(1 / 60))
            if v <= 512:
                return v

    loads = [("uniform 4..64, 48 requests", lambda: random.randint(4, 64), 48),
             ("exp min 4 mean 64 max 512, 64 requests", exp_len, 64)]
    for name, draw, n in loads:
        r = sorted(simulate(rates, [draw() for _ in range(n)], a.batch) for _ in range(a.draws))
        lo, mid, hi = r[len(r) // 20], r[len(r) // 2], r[len(r) * 19 // 20]
        print(f"{name}: continuous / static <= {mid:.2f} (5-95%: {lo:.2f}-{hi:.2f})")
    top = max(k for k in rates if k <= a.batch)
    print(f"continuous / off <= rate({top}) / rate(1) = {rates[top] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
