#!/usr/bin/env python3
"""Ratios of the model's arm-joint error to the baselines', per horizon, from `eval.json`-style
reports (`trajrnn eval --report FILE`):

    python3 tools/ratios.py docs/records/heldout/*.held.json

/chosen: against the baseline chosen on the validation part (what the model is compared with);
/oracle: against the best baseline on the reported frames themselves (a choice made on the
reported data, the harder comparison). Below 1: the model is better.
"""
import json
import sys


def ratios(report):
    oracle, chosen, best_names, chosen_names = [], [], [], []
    for h in report["horizons"]:
        scores = {x["name"]: x["arm"] for x in h["scores"]}
        model = scores.pop("model")
        known = [(v, n) for n, v in scores.items() if v is not None]
        if model is None or not known:
            oracle.append(None), chosen.append(None), best_names.append("n/a"), chosen_names.append("n/a")
            continue
        best = min(known)
        oracle.append(model / best[0])
        best_names.append(best[1])
        c = h.get("chosen")
        chosen.append(model / scores[c] if scores.get(c) else None)
        chosen_names.append(c or "n/a")
    return [h["horizon"] for h in report["horizons"]], oracle, chosen, best_names, chosen_names


def cell(x):
    return "n/a" if x is None else "%.3f" % x


def main():
    for path in sys.argv[1:]:
        horizons, oracle, chosen, best, picked = ratios(json.load(open(path)))
        print("%s  (horizons %s)" % (path, ", ".join(map(str, horizons))))
        print("  /chosen  %s   chosen on validation: %s" % (" ".join(map(cell, chosen)), ", ".join(picked)))
        print("  /oracle  %s   best on these frames: %s" % (" ".join(map(cell, oracle)), ", ".join(best)))


if __name__ == "__main__":
    main()
