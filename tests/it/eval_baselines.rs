use trajrnn::data::{Dataset, Segment};
use trajrnn::data::{Encoding, EncodingConfig};
use trajrnn::eval::{Baseline, ConstantVelocity, EvalConfig, Hold, LinearAr, anchors, evaluate};
use trajrnn::model::CellKind;

use crate::common::*;
use crate::model::config;

#[test]
fn constant_velocity_extrapolates() {
    let mut out = [0f32; 4];
    ConstantVelocity.rollout(&[1.0, 2.0, 1.5, 1.0], 2, 2, &mut out);
    assert_eq!(out, [2.0, 0.0, 2.5, -1.0]);
    Hold.rollout(&[1.0, 2.0, 1.5, 1.0], 2, 2, &mut out);
    assert_eq!(out, [1.5, 1.0, 1.5, 1.0]);
}

/// Writes a dataset whose episodes follow `f(t, channel)`.
fn dataset_of(dir: &std::path::Path, episodes: usize, frames: usize, f: impl Fn(usize, usize) -> f64) -> Dataset {
    let root = write_dataset(dir, &vec![10; episodes]);
    for e in 0..episodes {
        let mut csv = String::from("time,j0,j1,g\n");
        for t in 0..frames {
            csv += &format!("{},{},{},{}\n", t as f64 * 0.02, f(t, 0), f(t, 1), f(t, 2));
        }
        std::fs::write(root.join(format!("episodes/episode_{e:03}.csv")), csv).unwrap();
    }
    Dataset::load(&root).unwrap()
}

/// On motion with constant velocity, that baseline is exact and hold's error grows linearly
/// with the horizon; the report must say exactly that, on the model's frames.
#[test]
fn baselines_score_as_computed_by_hand() {
    let dir = tempdir();
    let ds = dataset_of(dir.path(), 2, 200, |t, c| [0.01 * t as f64, -0.002 * t as f64, 0.0][c]);
    let seg = [Segment { episode: 1, frames: 0..200 }];
    let enc = Encoding::fit(&ds, &[Segment { episode: 0, frames: 0..200 }], EncodingConfig::default()).unwrap();
    let dev = device();
    let model = config(CellKind::Rnn, enc.input_dim(), 4, 1, 3).init(&dev, 0);
    let cfg = EvalConfig { warmup: 10, horizons: vec![1, 5, 20], stride: 7, ..EvalConfig::default() };
    let r = evaluate(&model, &enc, &ds, &seg, &[&Hold, &ConstantVelocity], None, &cfg, &dev).unwrap();
    for h in &r.horizons {
        let [_, hold, cv] = &h.scores[..] else { panic!() };
        let (hold, cv) = (hold.per_channel.as_ref().unwrap(), cv.per_channel.as_ref().unwrap());
        assert!(cv[0] < 1e-5 && cv[1] < 1e-5);
        assert!((hold[0] - 0.01 * h.horizon as f64).abs() < 1e-5, "{}", hold[0]);
        assert_eq!(hold[2], 0.0);
        assert!(h.model().arm.unwrap().is_finite());
        assert_eq!(h.best_baseline().unwrap().name, "const_vel");
    }
    // Anchors from frame 9 to 179 every 7 frames.
    assert_eq!(r.horizons[0].count, (179 - 9) / 7 + 1);
    assert_eq!(anchors(&seg, 10, 20, 7).len(), (179 - 9) / 7 + 1);
}

/// A horizon that fits no validation segment is n/a with a warning, never a zero error.
#[test]
fn horizons_that_do_not_fit_are_na() {
    let dir = tempdir();
    let ds = dataset_of(dir.path(), 1, 120, |t, c| (t as f64 * 0.05 + c as f64).sin());
    let seg = [Segment { episode: 0, frames: 0..120 }];
    let enc = Encoding::fit(&ds, &seg, EncodingConfig::default()).unwrap();
    let dev = device();
    let model = config(CellKind::Gru, enc.input_dim(), 4, 1, 3).init(&dev, 0);
    let cfg = EvalConfig { warmup: 64, horizons: vec![1, 50, 100], ..EvalConfig::default() };
    let r = evaluate(&model, &enc, &ds, &seg, &[&Hold], None, &cfg, &dev).unwrap();
    assert!(r.horizons[0].count > 0 && r.horizons[1].count > 0);
    assert_eq!(r.horizons[2].count, 0);
    assert!(r.horizons[2].scores.iter().all(|s| s.arm.is_none() && s.per_channel.is_none()));
    assert!(r.warnings.iter().any(|w| w.contains("horizon 100") && w.contains("n/a")), "{:?}", r.warnings);
    let text = r.to_string();
    assert!(text.contains("n/a"), "{text}");
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["horizons"][2]["scores"][0]["arm"].is_null());
}

/// The linear baseline recovers a linear recurrence exactly and rolls it out.
#[test]
fn linear_baseline_learns_a_damped_oscillation() {
    let dir = tempdir();
    // v[t+1] = 0.95·rot(v[t]): a damped rotation of the two joints' velocities.
    let (c, s) = (0.1f64.cos() * 0.99, 0.1f64.sin() * 0.99);
    let mut q = vec![[0.0f64, 0.0]];
    let mut v = [0.01, 0.0];
    for _ in 0..400 {
        v = [c * v[0] - s * v[1], s * v[0] + c * v[1]];
        let last = *q.last().unwrap();
        q.push([last[0] + v[0], last[1] + v[1]]);
    }
    let ds = dataset_of(dir.path(), 1, 400, |t, ch| if ch < 2 { q[t][ch] } else { 0.0 });
    let ar = LinearAr::fit(&ds, &[Segment { episode: 0, frames: 0..300 }], 2, 1e-9, true).unwrap();
    let ep = &ds.episodes[0];
    let mut out = vec![0f32; 30 * 3];
    ar.rollout(ep.frames(300..320), 3, 30, &mut out);
    for k in 0..30 {
        for ch in 0..2 {
            let want = ep.frame(320 + k)[ch];
            assert!((out[k * 3 + ch] - want).abs() < 1e-4, "step {k} channel {ch}: {} vs {want}", out[k * 3 + ch]);
        }
    }
}
