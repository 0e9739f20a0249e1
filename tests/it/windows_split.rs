use burn::prelude::*;
use trajrnn::baselines::{BaselineConfig, Baselines};
use trajrnn::data::split::{Split, SplitKind, split_dataset};
use trajrnn::data::window::cut_windows;
use trajrnn::data::{Dataset, Part, Segment, SplitConfig, SplitMode, WindowSpec};
use trajrnn::encoding::{Encoding, EncodingConfig, TargetBase};
use trajrnn::train::{gather_batch, prepare};

use crate::common::*;

fn fit(ds: &Dataset, segments: &[Segment], config: EncodingConfig) -> Encoding {
    let baselines = Baselines::fit(ds, segments, &BaselineConfig::default()).unwrap();
    Encoding::fit(ds, segments, config, &baselines).unwrap()
}

#[test]
fn windows_stay_inside_their_segment_and_are_views() {
    let dir = tempdir();
    let ds = Dataset::load(write_dataset(dir.path(), &[100, 37, 80])).unwrap();
    let split = SplitConfig {
        mode: SplitMode::TimeBlocks,
        valid_fraction: 0.34,
        test_fraction: 0.2,
        gap: 2,
        ..Default::default()
    };
    let p = prepare(
        &ds,
        &split,
        WindowSpec { context: 4, stride: 3 },
        &BaselineConfig { ar_order: 1, ..Default::default() },
        hold_velocity(),
    )
    .unwrap();
    for (segments, wins) in [(&p.split.train, &p.train), (&p.split.valid, &p.valid)] {
        assert!(!wins.is_empty());
        for w in wins.iter() {
            assert!(segments.iter().any(|s| s.episode == w.episode
                && s.frames.start <= w.frames().start
                && w.frames().end <= s.frames.end));
            let storage = ds.episodes[w.episode].states.as_ptr_range();
            let view = w.view(&ds).as_ptr_range();
            assert!(storage.start <= view.start && view.end <= storage.end, "a window must borrow episode storage");
        }
    }
    // Episode 0: 100 frames, 20 test, 34 validation, two gaps of 2 → 42 training frames; windows
    // of 4 inputs span 6 frames, stride 3 → starts 0, 3, …, 36 (13 windows).
    assert_eq!(p.split.train[0].frames, 0..42);
    assert_eq!(p.train.iter().filter(|w| w.episode == 0).count(), 13);
}

/// Every episode in exactly one part, no part empty.
fn assert_partition(s: &Split, n: usize) {
    let mut seen = vec![0; n];
    for part in Part::ALL {
        assert!(!s.part(part).is_empty(), "{part} part is empty");
        for seg in s.part(part) {
            seen[seg.episode] += 1;
        }
    }
    assert!(seen.iter().all(|&c| c == 1), "{seen:?}");
}

#[test]
fn split_by_episode_deals_whole_episodes_into_three_parts_by_a_seeded_rule() {
    let dir = tempdir();
    let ds = Dataset::load(write_dataset(dir.path(), &[40; 20])).unwrap();
    let s = split_dataset(&ds, &SplitConfig::default()).unwrap();
    assert_eq!(s.kind, SplitKind::ByEpisode);
    assert_partition(&s, 20);
    assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (14, 3, 3));
    assert!(s.valid.iter().chain(&s.test).all(|v| v.frames == (0..40)));
    // The same seed deals the same episodes; another seed others.
    assert_eq!(split_dataset(&ds, &SplitConfig::default()).unwrap(), s);
    let other = split_dataset(&ds, &SplitConfig { seed: 1, ..SplitConfig::default() }).unwrap();
    assert_partition(&other, 20);
    assert_ne!(other.test, s.test);
}

#[test]
fn auto_splits_by_time_blocks_below_ten_episodes_and_by_episode_from_ten() {
    let dir = tempdir();
    let few = Dataset::load(write_dataset(dir.path(), &[400; 9])).unwrap();
    assert_eq!(split_dataset(&few, &SplitConfig::default()).unwrap().kind, SplitKind::TimeBlocks);
    let dir = tempdir();
    let many = Dataset::load(write_dataset(dir.path(), &[400; 10])).unwrap();
    assert_eq!(split_dataset(&many, &SplitConfig::default()).unwrap().kind, SplitKind::ByEpisode);
}

#[test]
fn time_block_split_leaves_gaps_between_its_three_blocks() {
    let dir = tempdir();
    let ds = Dataset::load(write_dataset(dir.path(), &[500])).unwrap();
    let config = SplitConfig { valid_fraction: 0.2, test_fraction: 0.1, gap: 30, ..SplitConfig::default() };
    let s = split_dataset(&ds, &config).unwrap();
    assert_eq!(s.kind, SplitKind::TimeBlocks);
    assert_eq!(s.test[0].frames, 450..500);
    assert_eq!(s.valid[0].frames, 320..420);
    assert_eq!(s.train[0].frames, 0..290);
    let spec = WindowSpec { context: 20, stride: 1 };
    let ends = |segs: &[Segment]| cut_windows(&ds, segs, spec, 2).unwrap().into_iter().map(|w| w.frames());
    let last_train = ends(&s.train).map(|f| f.end).max().unwrap();
    let first_valid = ends(&s.valid).map(|f| f.start).min().unwrap();
    let last_valid = ends(&s.valid).map(|f| f.end).max().unwrap();
    assert!(last_train + 30 <= first_valid, "train windows end at {last_train}, validation starts at {first_valid}");
    assert!(last_valid + 30 <= s.test[0].frames.start);
    // Too short for the blocks and gaps: an error naming the episode and the options.
    let e = split_dataset(&ds, &SplitConfig { gap: 200, ..config }).unwrap_err().to_string();
    assert!(e.contains("episode_000.csv") && e.contains("--gap"), "{e}");
}

#[test]
fn a_declared_split_without_test_holds_its_validation_episodes_out_for_the_test() {
    let dir = tempdir();
    let root = write_dataset(dir.path(), &[40; 6]);
    let meta = std::fs::read_to_string(root.join("dataset.json")).unwrap();
    let meta = meta.trim_end().trim_end_matches('}').to_string()
        + r#", "split": {"train": ["episode_000", "episode_001", "episode_002", "episode_003"], "valid": ["episode_004"]}}"#;
    std::fs::write(root.join("dataset.json"), meta).unwrap();
    let ds = Dataset::load(&root).unwrap();
    let s = split_dataset(&ds, &SplitConfig::default()).unwrap();
    assert_eq!(s.kind, SplitKind::Declared);
    assert_eq!(s.test.iter().map(|s| s.episode).collect::<Vec<_>>(), [4]);
    assert_eq!(s.valid.len(), 1);
    assert!(s.valid[0].episode < 4);
    assert_eq!(s.train.len(), 3);
    assert!(!s.train.iter().chain(&s.valid).chain(&s.test).any(|s| s.episode == 5), "undeclared episodes are unused");
}

#[test]
fn encoding_sees_training_frames_only() {
    let dir = tempdir();
    let root = write_dataset(dir.path(), &[80, 80]);
    let before = Dataset::load(&root).unwrap();
    let train = [Segment::whole(&before, 0)];
    let fitted = fit(&before, &train, EncodingConfig::default());
    // Hand computation on the training episode.
    let ep = &before.episodes[0];
    let n = ep.len() as f64;
    let mean0 = (0..ep.len()).map(|t| ep.frame(t)[0] as f64).sum::<f64>() / n;
    assert!((fitted.mean[0] as f64 - mean0).abs() < 1e-5);
    // Scaling the other episode does not move the statistics.
    let csv = std::fs::read_to_string(root.join("episodes/episode_001.csv")).unwrap();
    let scaled: String = csv
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l}\n")
            } else {
                let v: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
                format!("{},{},{},{}\n", v[0], v[1] * 10.0, v[2] * 10.0, v[3] * 10.0)
            }
        })
        .collect();
    std::fs::write(root.join("episodes/episode_001.csv"), scaled).unwrap();
    let after = Dataset::load(&root).unwrap();
    assert_eq!(fit(&after, &train, EncodingConfig::default()), fitted);
}

/// Velocity only, hold target: one frame of history.
fn hold_velocity() -> EncodingConfig {
    EncodingConfig { velocity: true, acceleration: false, target: TargetBase::Hold, ..EncodingConfig::default() }
}

#[test]
fn encoding_round_trips_and_batches_match_frames() {
    let dir = tempdir();
    let ds = Dataset::load(write_dataset(dir.path(), &[120])).unwrap();
    let train = [Segment { episode: 0, frames: 0..90 }];
    for config in [hold_velocity(), EncodingConfig::default()] {
        let enc = fit(&ds, &train, config.clone());
        let h = enc.history();
        let ep = &ds.episodes[0];
        let (mut y, mut back) = ([0f32; 3], [0f32; 3]);
        for t in h..ep.len() - 1 {
            let past = ep.frames(t - h..t + 1);
            enc.encode_target(past, ep.frame(t + 1), &mut y);
            enc.decode(past, &y, &mut back);
            for (b, q) in back.iter().zip(ep.frame(t + 1)) {
                assert!((b - q).abs() < 1e-6, "{config:?}: {b} vs {q}");
            }
        }
        let wins = cut_windows(&ds, &train, WindowSpec { context: 8, stride: 4 }, h).unwrap();
        let batch = gather_batch(&ds, &enc, &wins[2..4], false);
        assert_eq!((batch.batch, batch.context, batch.input_dim, batch.target_dim), (2, 8, enc.input_dim(), 3));
        // Second window, step 3: its input frame is start + history + 3, with its history before it.
        let w = wins[3];
        let mut expected = vec![0f32; enc.input_dim()];
        let f = w.start + h + 3;
        enc.encode_input(ep.frames(f - h..f + 1), &mut expected);
        let row = 8 + 3;
        assert_eq!(&batch.inputs[row * enc.input_dim()..(row + 1) * enc.input_dim()], &expected[..]);
        // Its target is the frame after, as a residual on the encoding's base.
        let mut target = [0f32; 3];
        enc.encode_target(ep.frames(f - h..f + 1), ep.frame(f + 1), &mut target);
        assert_eq!(&batch.targets[row * 3..row * 3 + 3], &target);
    }
}

/// One encoding: the device applies the very maps the host applies, and both give the same
/// inputs and decoded frames (the free-running training loss runs on the device).
#[test]
fn host_and_device_apply_the_same_encoding() {
    let dir = tempdir();
    let ds = Dataset::load(write_dataset(dir.path(), &[200])).unwrap();
    let device = device();
    for config in [
        hold_velocity(),
        EncodingConfig { target: TargetBase::ConstantVelocity, ..EncodingConfig::default() },
        EncodingConfig::default(),
        EncodingConfig { ar_joint: Some(true), ..EncodingConfig::default() },
    ] {
        let enc = fit(&ds, &[Segment { episode: 0, frames: 0..150 }], config.clone());
        let (h, d, n_in) = (enc.history(), enc.dim(), enc.input_dim());
        let maps = enc.maps().to_device(&device);
        let ep = &ds.episodes[0];
        let ends: Vec<usize> = (h..ep.len()).step_by(17).collect();
        let frames: Vec<f32> = ends.iter().flat_map(|&t| ep.frames(t - h..t + 1).iter().copied()).collect();
        let tensor = Tensor::<3>::from_data(TensorData::new(frames, [ends.len(), h + 1, d]), &device);
        let y: Vec<f32> = (0..ends.len() * d).map(|i| ((i * 7) % 11) as f32 * 0.1 - 0.5).collect();
        let device_inputs = maps.input(&tensor).into_data().try_into_vec::<f32>().unwrap();
        let y_tensor = Tensor::<2>::from_data(TensorData::new(y.clone(), [ends.len(), d]), &device);
        let device_decoded = maps.decode(&tensor, y_tensor).into_data().try_into_vec::<f32>().unwrap();
        for (b, &t) in ends.iter().enumerate() {
            let past = ep.frames(t - h..t + 1);
            let mut input = vec![0f32; n_in];
            enc.encode_input(past, &mut input);
            let mut decoded = vec![0f32; d];
            enc.decode(past, &y[b * d..(b + 1) * d], &mut decoded);
            for (x, z) in input.iter().zip(&device_inputs[b * n_in..(b + 1) * n_in]) {
                assert!((x - z).abs() <= 1e-5 * x.abs().max(1.0), "{config:?} input: host {x} device {z}");
            }
            for (x, z) in decoded.iter().zip(&device_decoded[b * d..(b + 1) * d]) {
                assert!((x - z).abs() <= 1e-5 * x.abs().max(1.0), "{config:?} decode: host {x} device {z}");
            }
        }
    }
}

/// With a zero output, the encoding's base is exactly the baseline it names, one step ahead.
#[test]
fn the_linear_base_predicts_what_its_baseline_predicts() {
    use trajrnn::baselines::Baseline;
    let dir = tempdir();
    let ds = Dataset::load(write_dataset(dir.path(), &[200])).unwrap();
    let train = [Segment { episode: 0, frames: 0..150 }];
    let baselines = Baselines::fit(&ds, &train, &BaselineConfig::default()).unwrap();
    for joint in [false, true] {
        let enc = Encoding::fit(
            &ds,
            &train,
            EncodingConfig { ar_joint: Some(joint), ..EncodingConfig::default() },
            &baselines,
        )
        .unwrap();
        let rule: &dyn Baseline = if joint { &baselines.linear_ar } else { &baselines.channel_ar };
        let h = enc.history();
        let ep = &ds.episodes[0];
        for t in (h + 1..ep.len()).step_by(13) {
            let (mut base, mut one) = ([0f32; 3], [0f32; 3]);
            enc.decode(ep.frames(t - h..t + 1), &[0.0; 3], &mut base);
            rule.rollout(&trajrnn::baselines::Context::states(ep.frames(t - h - 1..t + 1), 3), 1, &mut one);
            for (a, b) in base.iter().zip(&one) {
                assert!((a - b).abs() < 1e-5 * b.abs().max(1.0), "joint {joint}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn constant_velocity_target_is_zero_on_constant_velocity_motion() {
    let dir = tempdir();
    let root = write_dataset(dir.path(), &[10]);
    let mut csv = String::from("time,j0,j1,g\n");
    for t in 0..100 {
        csv += &format!(
            "{},{},{},{}\n",
            t as f64 * 0.02,
            0.01 * t as f64 + 0.001 * ((t * t) % 7) as f64,
            -0.002 * t as f64,
            0.0001 * ((t * 3) % 5) as f64
        );
    }
    std::fs::write(root.join("episodes/episode_000.csv"), csv).unwrap();
    let ds = Dataset::load(&root).unwrap();
    let seg = [Segment { episode: 0, frames: 0..100 }];
    let cv = EncodingConfig { target: TargetBase::ConstantVelocity, ..EncodingConfig::default() };
    let enc = fit(&ds, &seg, cv);
    // j1 moves at constant velocity: its residual on constant velocity is exactly zero.
    let ep = &ds.episodes[0];
    let mut y = [0f32; 3];
    enc.encode_target(ep.frames(10..13), ep.frame(13), &mut y);
    assert!(y[1].abs() < 1e-3, "{y:?}");
    assert!(y[0].abs() > 1e-2, "j0 accelerates: {y:?}");
}
