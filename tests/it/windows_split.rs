use trajrnn::data::split::{SplitKind, split};
use trajrnn::data::window::{gather_batch, windows};
use trajrnn::data::{Dataset, Encoding, EncodingConfig, SplitConfig, SplitMode, TargetBase, WindowSpec, prepare};

use crate::common::*;

#[test]
fn windows_stay_inside_their_segment_and_are_views() {
    let dir = tempdir();
    let ds = Dataset::load(write_dataset(dir.path(), &[100, 37, 80])).unwrap();
    let spec = WindowSpec { context: 10, stride: 3 };
    let p = prepare(&ds, &SplitConfig { val_fraction: 0.34, ..SplitConfig::default() }, spec, hold_velocity()).unwrap();
    for (segments, wins) in [(&p.split.train, &p.train), (&p.split.valid, &p.valid)] {
        for w in wins.iter() {
            assert!(segments.iter().any(|s| s.episode == w.episode
                && s.frames.start <= w.frames().start
                && w.frames().end <= s.frames.end));
            let storage = ds.episodes[w.episode].states.as_ptr_range();
            let view = w.view(&ds).as_ptr_range();
            assert!(storage.start <= view.start && view.end <= storage.end, "a window must borrow episode storage");
        }
    }
    // 100 frames, 12 per window, stride 3 → starts 0, 3, ..., 87 (30 windows); 37 frames → 9.
    assert_eq!(p.train.len(), 30 + 9);
    assert_eq!(p.valid.len(), (80 - 12) / 3 + 1);
}

#[test]
fn split_by_episode_holds_out_whole_episodes() {
    let dir = tempdir();
    let ds = Dataset::load(write_dataset(dir.path(), &[60, 60, 60, 60, 60])).unwrap();
    let s = split(&ds, &SplitConfig::default()).unwrap();
    assert_eq!(s.kind, SplitKind::ByEpisode);
    assert_eq!(s.train.iter().map(|s| s.episode).collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert_eq!(s.valid.iter().map(|s| s.episode).collect::<Vec<_>>(), [4]);
    assert!(s.valid.iter().all(|v| v.frames == (0..60)));
}

#[test]
fn time_block_split_leaves_a_gap() {
    let dir = tempdir();
    let ds = Dataset::load(write_dataset(dir.path(), &[500])).unwrap();
    let config = SplitConfig { val_fraction: 0.2, mode: SplitMode::Auto, gap: 30 };
    let s = split(&ds, &config).unwrap();
    assert_eq!(s.kind, SplitKind::TimeBlocks);
    assert_eq!(s.valid[0].frames, 400..500);
    assert_eq!(s.train[0].frames, 0..370);
    let spec = WindowSpec { context: 20, stride: 1 };
    let last_train = windows(&ds, &s.train, spec, 2).unwrap().into_iter().map(|w| w.frames().end).max().unwrap();
    let first_valid = windows(&ds, &s.valid, spec, 2).unwrap().into_iter().map(|w| w.frames().start).min().unwrap();
    assert!(last_train + 30 <= first_valid, "train windows end at {last_train}, validation starts at {first_valid}");
}

#[test]
fn encoding_sees_training_frames_only() {
    let dir = tempdir();
    let root = write_dataset(dir.path(), &[80, 80]);
    let before = Dataset::load(&root).unwrap();
    let s = split(&before, &SplitConfig::default()).unwrap();
    let fitted = Encoding::fit(&before, &s.train, EncodingConfig::default()).unwrap();
    // Hand computation on the training episode.
    let ep = &before.episodes[0];
    let n = ep.len() as f64;
    let mean0 = (0..ep.len()).map(|t| ep.frame(t)[0] as f64).sum::<f64>() / n;
    assert!((fitted.mean[0] as f64 - mean0).abs() < 1e-5);
    // Scaling the validation episode does not move the statistics.
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
    assert_eq!(
        Encoding::fit(&after, &split(&after, &SplitConfig::default()).unwrap().train, EncodingConfig::default())
            .unwrap(),
        fitted
    );
}

/// Velocity only, hold target: one frame of history.
fn hold_velocity() -> EncodingConfig {
    EncodingConfig { velocity: true, acceleration: false, target: TargetBase::Hold, ..EncodingConfig::default() }
}

#[test]
fn encoding_round_trips_and_batches_match_frames() {
    let dir = tempdir();
    let ds = Dataset::load(write_dataset(dir.path(), &[120])).unwrap();
    let s = split(&ds, &SplitConfig { gap: 5, ..SplitConfig::default() }).unwrap();
    for config in [hold_velocity(), EncodingConfig::default()] {
        let enc = Encoding::fit(&ds, &s.train, config.clone()).unwrap();
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
        let wins = windows(&ds, &s.train, WindowSpec { context: 8, stride: 4 }, h).unwrap();
        let batch = gather_batch(&ds, &enc, &wins[2..4]);
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
            0.0
        );
    }
    std::fs::write(root.join("episodes/episode_000.csv"), csv).unwrap();
    let ds = Dataset::load(&root).unwrap();
    let seg = [trajrnn::data::Segment { episode: 0, frames: 0..100 }];
    let cv = EncodingConfig { target: TargetBase::ConstantVelocity, ..EncodingConfig::default() };
    let enc = Encoding::fit(&ds, &seg, cv).unwrap();
    // j1 moves at constant velocity: its residual on constant velocity is exactly zero.
    let ep = &ds.episodes[0];
    let mut y = [0f32; 3];
    enc.encode_target(ep.frames(10..13), ep.frame(13), &mut y);
    assert!(y[1].abs() < 1e-3, "{y:?}");
    assert!(y[0].abs() > 1e-2, "j0 accelerates: {y:?}");
}
