#!/usr/bin/env python3
"""How fast, and in how much memory, hostile pipeline files are refused (a report, not a test).

    python bench/hostile_yaml.py

Each input is loaded through pipelinectl's loader and, for comparison, PyYAML's safe C loader
(the peer; where it crashes, runs away or accepts the file, that is the point). Prints time
and peak memory of ours against the limit of the issue: "well under a second" (1 s) with
bounded memory. Each case runs in a fresh subprocess so a crash or a memory peak is its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

LIMIT_SECONDS = 1.0


def cases() -> dict[str, str]:
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        bomb.append(f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 10)}]")
    return {
        "alias bomb (10^9 values)": "\n".join(bomb) + "\n",
        "flow nesting 500k deep": "a: " + "[" * 500_000 + "]" * 500_000 + "\n",
        "1 MiB of list items": "a: [" + "1," * 524_000 + "1]\n",
        "1 MiB + 1 byte": "a: " + "x" * (1024 * 1024) + "\n",
        "200k keys": "".join(f"k{i}: 1\n" for i in range(200_000))[: 1024 * 1024 - 10],
    }


PROBE = textwrap.dedent("""
    import json, resource, sys, time
    which, text = sys.argv[1], sys.stdin.read()
    start = time.perf_counter()
    outcome = "accepted"
    try:
        if which == "ours":
            from pipelinectl.spec import yamlio
            from pipelinectl.errors import InvalidInput
            try:
                yamlio.load_bytes(text.encode(), "f.yaml")
            except InvalidInput as exc:
                outcome = "refused: " + exc.problems[0].message
        else:
            import yaml
            data = yaml.load(text, Loader=yaml.CSafeLoader)
            json.dumps(data)  # what a consumer does next: walk the value
    except Exception as exc:
        outcome = "error: " + type(exc).__name__
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps({"seconds": seconds, "peak_mib": peak, "outcome": outcome[:60]}))
""")


def measure(which: str, text: str) -> dict[str, object]:
    try:
        done = subprocess.run([sys.executable, "-c", PROBE, which], input=text, text=True,
                              capture_output=True, timeout=30)
    except subprocess.TimeoutExpired:
        return {"seconds": 30.0, "peak_mib": -1, "outcome": "killed after 30 s"}
    if done.returncode != 0:
        return {"seconds": float("nan"), "peak_mib": -1,
                "outcome": f"crashed (exit {done.returncode})"}
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main() -> int:
    print(f"{'input':26} {'ours s':>7} {'MiB':>5}  {'x limit':>7}  ours / PyYAML CSafeLoader")
    worst = 0.0
    for name, text in cases().items():
        ours, peer = measure("ours", text), measure("peer", text)
        seconds = float(str(ours["seconds"]))
        worst = max(worst, seconds)
        print(f"{name:26} {seconds:7.3f} {ours['peak_mib']:>5}  {seconds / LIMIT_SECONDS:6.2f}x"
              f"  {ours['outcome']} / {peer['outcome']} ({float(str(peer['seconds'])):.2f} s, "
              f"{peer['peak_mib']} MiB)")
    print(f"worst case: {worst:.3f} s = {worst / LIMIT_SECONDS:.2f}x the 1 s limit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
