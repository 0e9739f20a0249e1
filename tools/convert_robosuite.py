#!/usr/bin/env python3
"""Converts the robosuite pick-and-place demos (HDF5 + MJCF) into trajrnn's dataset format.

    python3 -m venv .venv && .venv/bin/pip install h5py numpy
    .venv/bin/python tools/convert_robosuite.py ../shared/data/robosuite datasets/robosuite_pick_place

For each robot it writes <out>/<robot>/dataset.json, episodes/episode_NNN.csv (time, arm joint
angles in radians, finger slides in metres, taken from MuJoCo's qpos) and robot.xml: the robot's
kinematic subtree of the scene MJCF (bodies, joints, sites; meshes and geoms dropped).
The conversion is deterministic: rerunning it reproduces the bundled files byte for byte.
"""
import copy
import json
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np

ROBOTS = {
    "sawyer": dict(
        folder="SawyerPickPlace", source_wheel="robosuite 0.3.0",
        arm=[f"right_j{i}" for i in range(7)],
        gripper=["r_gripper_l_finger_joint", "r_gripper_r_finger_joint"],
        root_body="base", ee_site="grip_site"),
    "panda": dict(
        folder="PandaPickPlace", source_wheel="robosuite 1.0.1",
        arm=[f"robot0_joint{i}" for i in range(1, 8)],
        gripper=["gripper0_finger_joint1", "gripper0_finger_joint2"],
        root_body="robot0_link0", ee_site="gripper0_grip_site"),
}
KEEP = {"body", "joint", "site"}


def qpos_layout(worldbody):
    """Joint name -> qpos index, in MJCF document order (hinge/slide: 1 slot, ball: 4, free: 7)."""
    index, out = 0, {}
    for j in worldbody.iter("joint"):
        kind = j.get("type", "hinge")
        out[j.get("name")] = index
        index += {"hinge": 1, "slide": 1, "ball": 4, "free": 7}[kind]
    return out, index


def strip(body):
    for child in list(body):
        if child.tag not in KEEP:
            body.remove(child)
        elif child.tag == "body":
            strip(child)
    return body


def robot_xml(scene: ET.Element, root_body: str, name: str) -> str:
    body = next(b for b in scene.iter("body") if b.get("name") == root_body)
    out = ET.Element("mujoco", model=name)
    ET.SubElement(out, "compiler", angle="radian")
    wb = ET.SubElement(out, "worldbody")
    wb.append(strip(copy.deepcopy(body)))
    ET.indent(out)
    return ET.tostring(out, encoding="unicode") + "\n"


def convert(src: Path, dst: Path, robot: str, spec: dict):
    folder = src / spec["folder"]
    scene = ET.parse(folder / "models" / "model_1.xml").getroot()
    layout, nq = qpos_layout(scene.find("worldbody"))
    names = spec["arm"] + spec["gripper"]
    cols = [1 + layout[n] for n in names]  # states = [time, qpos..., qvel...]
    out = dst / robot
    if out.exists():
        shutil.rmtree(out)
    (out / "episodes").mkdir(parents=True)
    episodes = []
    with h5py.File(folder / "demo.hdf5", "r") as f:
        demos = sorted(f["data"].keys(), key=lambda k: int(k.split("_")[1]))
        for i, demo in enumerate(demos):
            states = np.asarray(f["data"][demo]["states"])
            t = states[:, 0]
            q = states[:, cols]
            dt = np.diff(t)
            path = out / "episodes" / f"episode_{i:03d}.csv"
            with open(path, "w") as fh:
                fh.write(",".join(["time"] + names) + "\n")
                for k in range(len(t)):
                    fh.write(",".join([f"{t[k]:.4f}"] + [f"{v:.7g}" for v in q[k]]) + "\n")
            episodes.append(dict(file=path.name, source=f"{spec['folder']}/demo.hdf5:data/{demo}",
                                 frames=int(len(t)), duration_s=round(float(t[-1] - t[0]), 4)))
            print(f"{robot} {demo}: {len(t)} frames, dt {dt.min():.4f}..{dt.max():.4f} s")
    rate = round(1.0 / float(np.median(dt)), 3)
    (out / "robot.xml").write_text(robot_xml(scene, spec["root_body"], robot))
    meta = {
        "format": "trajrnn-trajectories",
        "format_version": 1,
        "name": f"robosuite_pick_place_{robot}",
        "robot": robot,
        "rate_hz": rate,
        "joints": spec["arm"],
        "gripper": spec["gripper"],
        "units": {"joints": "rad", "gripper": "m", "time": "s"},
        "robot_description": {"format": "mjcf", "path": "robot.xml", "end_effector": spec["ee_site"]},
        "provenance": {
            "source": f"{spec['source_wheel']} wheel, robosuite/models/assets/demonstrations, "
                      f"human teleoperation in MuJoCo; columns are qpos entries of data/demo_N/states",
            "converted_by": "tools/convert_robosuite.py",
            "episodes": episodes,
        },
        "license": "MIT, Copyright (c) 2018 Stanford Vision and Learning Lab and UT-Austin RPL (see ../LICENSE)",
    }
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")


def main():
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "LICENSE", dst / "LICENSE")
    for robot, spec in ROBOTS.items():
        convert(src, dst, robot, spec)


if __name__ == "__main__":
    main()
