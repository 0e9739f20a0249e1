//! Every dataset bundled under `datasets/` loads, with the channels and episodes its README
//! lists, and its robot description gives an end effector (loading only: fast).

use std::path::{Path, PathBuf};

use trajrnn::data::Dataset;
use trajrnn::kinematics::Kinematics;

/// (folder under `datasets/`, joints, gripper, auxiliary, episodes, frames).
const BUNDLED: &[(&str, usize, usize, usize, usize, usize)] = &[
    ("robosuite_demos/baxter_lift", 14, 4, 0, 2, 3500),
    ("robosuite_demos/baxter_peg_in_hole", 14, 0, 0, 2, 2395),
    ("robosuite_demos/panda_door", 7, 2, 2, 1, 261),
    ("robosuite_demos/panda_lift", 7, 2, 0, 1, 412),
    ("robosuite_demos/panda_nut_assembly", 7, 2, 0, 1, 1036),
    ("robosuite_demos/panda_stack", 7, 2, 0, 1, 532),
    ("robosuite_demos/panda_wipe", 7, 0, 0, 1, 174),
    ("robosuite_demos/sawyer_lift", 7, 2, 0, 2, 1895),
    ("robosuite_demos/sawyer_nut_assembly", 7, 2, 0, 2, 5748),
    ("robosuite_demos/sawyer_stack", 7, 2, 0, 2, 2426),
    ("robosuite_pick_place/panda", 7, 2, 0, 1, 1482),
    ("robosuite_pick_place/sawyer", 7, 2, 0, 2, 9566),
    ("synthetic_pick_place", 7, 2, 0, 200, 38612),
];

/// Folders holding a `dataset.json`, up to two levels below `root`, relative to it.
fn dataset_folders(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack: Vec<(PathBuf, usize)> = vec![(root.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        if dir.join("dataset.json").is_file() {
            found.push(dir.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
            continue;
        }
        if depth < 2 {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push((path, depth + 1));
                }
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_bundled_dataset_loads_with_its_channels_and_episodes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets");
    let listed: Vec<&str> = BUNDLED.iter().map(|b| b.0).collect();
    assert_eq!(dataset_folders(&root), listed, "a bundled dataset is missing from this test's table, or gone");
    for &(folder, joints, gripper, auxiliary, episodes, frames) in BUNDLED {
        let ds = Dataset::load(root.join(folder)).unwrap_or_else(|e| panic!("{folder}: {e}"));
        let m = &ds.meta;
        assert_eq!(
            (m.joints.len(), m.gripper.len(), m.auxiliary.len(), ds.episodes.len()),
            (joints, gripper, auxiliary, episodes),
            "{folder}: joints, gripper, auxiliary channels, episodes"
        );
        assert_eq!(ds.dim(), joints + gripper + auxiliary, "{folder}");
        assert_eq!(ds.total_frames(), frames, "{folder}: frames");
        let k = Kinematics::for_dataset(&ds).unwrap_or_else(|e| panic!("{folder}: {e}"));
        let k = k.unwrap_or_else(|| panic!("{folder}: no robot description"));
        let ee = k.end_effector_position(ds.episodes[0].frame(0)).expect("end effector");
        assert!(ee.coords.iter().all(|v| v.is_finite()), "{folder}: {ee}");
    }
}
