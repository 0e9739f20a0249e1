//! The synthetic pick-and-place data, checked as a roboticist would: the hand really is at the
//! object while grasping and at the goal while releasing (forward kinematics of the stored
//! joints), joints stay inside the Panda's limits, and generation is reproducible.

use std::path::PathBuf;

use trajrnn::data::Dataset;
use trajrnn::data::csv_episode::write_episode;
use trajrnn::kinematics::Kinematics;
use trajrnn::synthetic::{self, Generator, GeneratorConfig};

fn shipped() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/synthetic_pick_place")
}

fn small(seed: u64) -> GeneratorConfig {
    GeneratorConfig { episodes: 3, seed, ..GeneratorConfig::default() }
}

#[test]
fn generation_is_deterministic_and_seeded() {
    let a = Generator::panda(small(5)).unwrap().dataset().unwrap();
    let b = Generator::panda(small(5)).unwrap().dataset().unwrap();
    assert_eq!(a.episodes, b.episodes);
    assert_eq!(a.meta, b.meta);
    let c = Generator::panda(small(6)).unwrap().dataset().unwrap();
    assert_ne!(a.episodes[0].states, c.episodes[0].states);
    // Episode i does not depend on how many were generated before it.
    let one = Generator::panda(small(5)).unwrap().episode(2).unwrap();
    assert_eq!(one.episode, a.episodes[2]);
}

#[test]
fn shipped_episodes_regenerate_byte_for_byte() {
    let ds = Dataset::load(shipped()).unwrap();
    let config = synthetic::config_of(&ds.meta).unwrap();
    assert_eq!(config, GeneratorConfig::default(), "the shipped set is what `trajrnn generate` makes by default");
    let generator = Generator::panda(config).unwrap();
    for i in [0, 1, ds.episodes.len() - 1] {
        let name = format!("episode_{i:03}.csv");
        let stored = std::fs::read(shipped().join("episodes").join(&name)).unwrap();
        let mut fresh = Vec::new();
        write_episode(&mut fresh, &generator.episode(i).unwrap().episode, &ds.meta).unwrap();
        assert!(fresh == stored, "{name} differs from a fresh generation");
    }
}

#[test]
fn the_hand_reaches_object_and_goal() {
    let ds = Dataset::load(shipped()).unwrap();
    let k = Kinematics::for_dataset(&ds).unwrap().expect("robot description");
    let scenes = synthetic::scenes_of(&ds.meta).unwrap();
    assert_eq!(scenes.len(), ds.episodes.len());
    let phase = |name: &str| ds.meta.phases.iter().position(|p| p == name).unwrap() as u16;
    let (grasp, release) = (phase("grasp"), phase("release"));
    let mut worst = [0f64; 2];
    for (e, s) in ds.episodes.iter().zip(&scenes) {
        let labels = e.phase.as_ref().unwrap();
        for (t, &p) in labels.iter().enumerate() {
            let (target, slot) = match p {
                _ if p == grasp => (s.object, 0),
                _ if p == release => (s.goal, 1),
                _ => continue,
            };
            let ee = k.end_effector_position(e.frame(t)).unwrap();
            let err = ((ee.x - target.x).powi(2) + (ee.y - target.y).powi(2) + (ee.z - target.z).powi(2)).sqrt();
            worst[slot] = worst[slot].max(err);
        }
    }
    eprintln!(
        "worst distance to the object while grasping {:.2} mm, to the goal while releasing {:.2} mm",
        worst[0] * 1e3,
        worst[1] * 1e3
    );
    // Sensor noise (0.2 mrad per joint) moves the hand by well under a millimetre.
    assert!(
        worst[0] < 0.003 && worst[1] < 0.003,
        "worst distance to object {:.2} mm, to goal {:.2} mm",
        worst[0] * 1e3,
        worst[1] * 1e3
    );
    assert!(worst[0] > 0.0, "noise is present");
}

#[test]
fn joints_stay_inside_the_panda_limits_and_phases_run_in_order() {
    let ds = Dataset::load(shipped()).unwrap();
    let k = Kinematics::for_dataset(&ds).unwrap().unwrap();
    let channels = ds.meta.channels();
    let limits: Vec<(f64, f64)> = channels
        .iter()
        .map(|c| k.robot.bodies.iter().flat_map(|b| &b.joints).find(|j| &j.name == c).unwrap().range.unwrap())
        .collect();
    assert!((limits[3].0 - -3.0718).abs() < 1e-9 && (limits[5].1 - 3.7525).abs() < 1e-9, "limits from robot.xml");
    for e in &ds.episodes {
        for t in 0..e.len() {
            for (c, (&v, &(lo, hi))) in e.frame(t).iter().zip(&limits).enumerate() {
                assert!(
                    (lo..=hi).contains(&(v as f64)),
                    "{} frame {t}: {} = {v} outside [{lo}, {hi}]",
                    e.name,
                    channels[c]
                );
            }
        }
        let labels = e.phase.as_ref().unwrap();
        assert!(labels.windows(2).all(|w| w[0] <= w[1]), "{}: phases out of order", e.name);
        assert_eq!((labels[0], *labels.last().unwrap()), (0, 6), "{}", e.name);
        assert_eq!(labels.iter().collect::<std::collections::HashSet<_>>().len(), 7, "{}", e.name);
    }
    assert!((100..=400).contains(&ds.episodes.len()));
}

#[test]
fn generate_refuses_bad_settings() {
    let bad = GeneratorConfig { rate_hz: 0.0, ..small(0) };
    assert!(Generator::panda(bad).err().unwrap().to_string().contains("--rate"));
    let bad = GeneratorConfig { episodes: 0, ..small(0) };
    assert!(Generator::panda(bad).err().unwrap().to_string().contains("--episodes"));
    let dir = crate::common::tempdir();
    std::fs::write(dir.path().join("x"), "").unwrap();
    assert!(synthetic::write(small(0), dir.path()).unwrap_err().to_string().contains("not empty"));
}

/// With a servo the generator records the commands (the inverse-kinematics solutions) and the
/// joints follow them with the servo's lag: `inspect` finds a lag near the servo's delay plus
/// its time constant, and the state is the first-order response to the delayed command.
#[test]
fn a_servo_records_commands_the_joints_follow() {
    let servo = synthetic::Servo { time_constant_s: 0.1, delay_frames: 2 };
    let config = GeneratorConfig { joint_noise: 0.0, finger_noise: 0.0, servo: Some(servo), ..small(3) };
    let ds = Generator::panda(config.clone()).unwrap().dataset().unwrap();
    assert_eq!(ds.meta.command_dim(), 9);
    assert_eq!(ds.meta.commands[0].name, "target_robot0_joint1");
    assert_eq!(ds.meta.driven_channels(), (0..9).map(Some).collect::<Vec<_>>());
    // Without a servo, the same seed gives the commands as the joints.
    let plain = Generator::panda(GeneratorConfig { servo: None, ..config }).unwrap().dataset().unwrap();
    let share = 1.0 - (-1.0f64 / (20.0 * 0.1)).exp();
    for (e, p) in ds.episodes.iter().zip(&plain.episodes) {
        assert_eq!(e.commands.as_ref().unwrap(), &p.states, "{}: commands are the plain joints", e.name);
        for t in 3..e.len() {
            for j in 0..7 {
                let (q, q0, u) = (e.frame(t)[j] as f64, e.frame(t - 1)[j] as f64, e.command(t - 3)[j] as f64);
                let expected = q0 + share * (u - q0);
                assert!((q - expected).abs() < 1e-4, "{} frame {t} joint {j}: {q} vs {expected}", e.name);
            }
        }
    }
    let report = trajrnn::data::inspect::inspect(&ds, Default::default());
    let lag = report.commands[1].lag_frames.unwrap();
    assert!((2..=6).contains(&lag), "lag of {lag} frames");
    assert!(report.commands[1].correlation.unwrap() > 0.95);
}
