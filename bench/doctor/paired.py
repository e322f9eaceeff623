#!/usr/bin/python3
"""Two builds (or two policies) on the same doctor draws, case by case.

    /usr/bin/python3 bench/doctor/paired.py --before A.json [A.json ...] --after B.json [B.json ...] [--out F.md]

Each argument is a part's result file (doctor-<family>-<kernel>-<date>.json).
Parts pair up by family, kernel family and generator seed (their meta). A
rescue count moves only when a result crosses its floor, so it sees few of
the runs a change of policy moves; this compares every case's guarded
result instead: the change in test accuracy, in points (MSE cases: the
relative change in percent, a fall counted as a gain), how many cases got
better and how many worse, the mean and median change, and a two-sided sign
test over the cases that moved. Healthy twins are compared as well: any
change of theirs is listed. The pairs are meant to share their unguarded
runs (--reuse-off), so that a case is the same case in both.
"""
import argparse
import glob
import json
import math
import os
import statistics
import sys


def load(path):
    with open(path) as f:
        d = json.load(f)
    m = d.get("meta", {})
    return (m.get("families"), m.get("kernel"), m.get("seed", 1)), d


def change(before, after):
    """Points gained (+) or lost (-) by the guarded run; None when either has no result."""
    a, b = before.get("on") or {}, after.get("on") or {}
    if a.get("acc") is not None and b.get("acc") is not None:
        return 100.0 * (b["acc"] - a["acc"]), "acc"
    if a.get("mse") is not None and b.get("mse") is not None and a["mse"] > 0:
        return -100.0 * (b["mse"] - a["mse"]) / a["mse"], "mse"
    return None, None


def sign_test(up, down):
    """Two-sided exact binomial p-value of `up` gains in `up + down` moves at p = 1/2."""
    n = up + down
    if n == 0:
        return 1.0
    k = min(up, down)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
    return min(1.0, 2 * tail)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", nargs="+", required=True, help="the reference build's part files")
    ap.add_argument("--after", nargs="+", required=True, help="the changed build's part files")
    ap.add_argument("--out", help="also write the Markdown here")
    args = ap.parse_args()
    before = dict(load(p) for p in sum((glob.glob(x) for x in args.before), []))
    after = {}
    for p in sum((glob.glob(x) for x in args.after), []):
        key, d = load(p)
        after[key] = (p, d)
    lines = ["# Doctor, case by case: %s" % " ".join(sys.argv[1:]), "",
             "| part (family, kernels, seed) | cases | rescued before -> after | results moved | better / worse |"
             " mean change (points) | median |",
             "|---|---|---|---|---|---|---|"]
    flips, twins, allmoves = [], [], []
    tot = {"cases": 0, "rb": 0, "ra": 0}
    for key in sorted(after, key=lambda k: tuple(str(x) for x in k)):
        path, d = after[key]
        if key not in before:
            print("paired.py: no --before part for %s (%s)" % (key, os.path.basename(path)), file=sys.stderr)
            continue
        a, b = before[key]["candidates"], d["candidates"]
        moves, n, rb, ra = [], 0, 0, 0
        for cid, c in sorted(b.items()):
            if not c.get("case") or cid not in a or not a[cid].get("case"):
                continue
            n += 1
            rb += bool(a[cid].get("rescued"))
            ra += bool(c.get("rescued"))
            if bool(a[cid].get("rescued")) != bool(c.get("rescued")):
                flips.append((key, cid, a[cid].get("rescued"), c.get("rescued")))
            dv, _ = change(a[cid], c)
            if dv is not None and abs(dv) > 1e-9:
                moves.append(dv)
        tb, ta = before[key].get("twins", {}), d.get("twins", {})
        for tid, t in sorted(ta.items()):
            if tid in tb:
                dv, _ = change(tb[tid], t)
                if dv is not None and abs(dv) > 1e-9:
                    twins.append((key, tid, dv))
        up, down = sum(v > 0 for v in moves), sum(v < 0 for v in moves)
        allmoves += moves
        tot["cases"] += n
        tot["rb"] += rb
        tot["ra"] += ra
        lines.append("| %s, %s, %s | %d | %d -> %d | %d | %d / %d | %s | %s |" % (
            key[0], key[1], key[2], n, rb, ra, len(moves), up, down,
            "%+.2f" % statistics.mean(moves) if moves else "-", "%+.2f" % statistics.median(moves) if moves else "-"))
    up, down = sum(v > 0 for v in allmoves), sum(v < 0 for v in allmoves)
    lines.append("| **all** | %d | %d -> %d | %d | %d / %d | %s | %s |" % (
        tot["cases"], tot["rb"], tot["ra"], len(allmoves), up, down,
        "%+.2f" % statistics.mean(allmoves) if allmoves else "-",
        "%+.2f" % statistics.median(allmoves) if allmoves else "-"))
    lines += ["", "Sign test over the moved cases: %d better, %d worse, two-sided p = %.2g." % (up, down,
                                                                                                 sign_test(up, down)),
              "Points: test accuracy x 100; MSE cases: the relative change of the MSE in percent, a fall a gain.", ""]
    lines.append("Rescues that moved: " + ("none." if not flips else ""))
    for key, cid, x, y in flips:
        lines.append("- `%s` (%s): %s -> %s" % (cid, key[1], "rescued" if x else "lost", "rescued" if y else "lost"))
    lines += ["", "Healthy twins whose guarded result moved: " + ("none." if not twins else "")]
    for key, tid, dv in twins:
        lines.append("- %s (%s): %+.2f points" % (tid, key[1], dv))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
