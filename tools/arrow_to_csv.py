#!/usr/bin/env python3
"""A Hugging Face `datasets` arrow file of a LeRobot recording (columns `episode_index`,
`timestamp`, `observation.state`, `action`) to one CSV that `trajrnn import csv` reads, with
`action_<name>` command columns paired to their state channels by name.

    pip install pyarrow
    python3 tools/arrow_to_csv.py data-00000-of-00001.arrow out.csv shoulder_pan shoulder_lift elbow_flex wrist_flex wrist_roll gripper
    trajrnn import csv out.csv datasets/so101 --commands action_shoulder_pan,action_shoulder_lift,action_elbow_flex,action_wrist_flex,action_wrist_roll,action_gripper

Used for the SO-101 development set (docs/datasets-in-the-wild.md).
"""
import csv
import sys

import pyarrow.ipc as ipc


def main():
    source, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    table = ipc.open_stream(open(source, "rb")).read_all()
    d = table.to_pydict()
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["episode", "time"] + names + ["action_" + n for n in names])
        for i in range(table.num_rows):
            state, action = d["observation.state"][i], d["action"][i]
            if len(state) != len(names) or len(action) != len(names):
                sys.exit(f"row {i}: {len(state)} state and {len(action)} action values for {len(names)} names")
            w.writerow([d["episode_index"][i], repr(d["timestamp"][i])] + [repr(v) for v in state] + [repr(v) for v in action])
    print(f"wrote {out}: {table.num_rows} rows")


if __name__ == "__main__":
    main()
