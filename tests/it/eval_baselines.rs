use trajrnn::baselines::{Baseline, BaselineConfig, Baselines, ConstantVelocity, Context, Hold, LinearAr};
use trajrnn::data::{Dataset, Segment};
use trajrnn::encoding::{Encoding, EncodingConfig};
use trajrnn::eval::{BaselineChoice, EvalConfig, EvalInputs, anchors, evaluate, evaluate_baselines};
use trajrnn::model::{CellKind, TrajectoryModel};

use crate::common::*;
use crate::model::config;

#[test]
fn constant_velocity_extrapolates() {
    let mut out = [0f32; 4];
    ConstantVelocity.rollout(&Context::states(&[1.0, 2.0, 1.5, 1.0], 2), 2, &mut out);
    assert_eq!(out, [2.0, 0.0, 2.5, -1.0]);
    Hold.rollout(&Context::states(&[1.0, 2.0, 1.5, 1.0], 2), 2, &mut out);
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

fn fit(ds: &Dataset, segments: &[Segment]) -> Encoding {
    let baselines = Baselines::fit(ds, segments, &BaselineConfig::default()).unwrap();
    Encoding::fit(ds, segments, EncodingConfig::default(), &baselines).unwrap()
}

fn inputs<'a>(
    model: &'a TrajectoryModel,
    enc: &'a Encoding,
    ds: &'a Dataset,
    seg: &'a [Segment],
    baselines: &'a [&'a dyn Baseline],
) -> EvalInputs<'a> {
    EvalInputs {
        model,
        encoding: enc,
        dataset: ds,
        segments: seg,
        baselines,
        choice: None,
        kinematics: None,
        part: "test",
    }
}

/// On motion with constant velocity, that baseline is exact and hold's error grows linearly
/// with the horizon; the report must say exactly that, on the model's frames.
#[test]
fn baselines_score_as_computed_by_hand() {
    let dir = tempdir();
    let ds = dataset_of(dir.path(), 2, 200, |t, c| [0.01 * t as f64, -0.002 * t as f64, 0.0][c]);
    let seg = [Segment { episode: 1, frames: 0..200 }];
    let enc = fit(&ds, &[Segment { episode: 0, frames: 0..200 }]);
    let dev = device();
    let model = config(CellKind::Rnn, enc.input_dim(), 4, 1, 3).init(&dev, 0);
    let cfg = EvalConfig { warmup: 10, horizons: vec![1, 5, 20], stride: 7 };
    let r = evaluate(&inputs(&model, &enc, &ds, &seg, &[&Hold, &ConstantVelocity]), &cfg, &dev).unwrap();
    for h in &r.horizons {
        let [_, hold, cv] = &h.scores[..] else { panic!() };
        let (hold, cv) = (hold.per_channel.as_ref().unwrap(), cv.per_channel.as_ref().unwrap());
        assert!(cv[0] < 1e-5 && cv[1] < 1e-5);
        assert!((hold[0] - 0.01 * h.horizon as f64).abs() < 1e-5, "{}", hold[0]);
        assert_eq!(hold[2], 0.0);
        assert!(h.model().arm.unwrap().is_finite());
        assert_eq!(h.oracle().unwrap().name, "const_vel");
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
    let enc = fit(&ds, &seg);
    let dev = device();
    let model = config(CellKind::Gru, enc.input_dim(), 4, 1, 3).init(&dev, 0);
    let cfg = EvalConfig { warmup: 64, horizons: vec![1, 50, 100], ..EvalConfig::default() };
    let r = evaluate(&inputs(&model, &enc, &ds, &seg, &[&Hold]), &cfg, &dev).unwrap();
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
    assert_eq!(ar.name(), "linear_ar");
    let ep = &ds.episodes[0];
    let mut out = vec![0f32; 30 * 3];
    ar.rollout(&Context::states(ep.frames(300..320), 3), 30, &mut out);
    for k in 0..30 {
        for ch in 0..2 {
            let want = ep.frame(320 + k)[ch];
            assert!((out[k * 3 + ch] - want).abs() < 1e-4, "step {k} channel {ch}: {} vs {want}", out[k * 3 + ch]);
        }
    }
}

/// The baseline a report compares with at each horizon is the one chosen on validation, not the
/// best on the scored frames; the report shows both, and the oracle as what it is.
#[test]
fn the_baseline_is_chosen_on_validation_and_applied_to_the_test() {
    let dir = tempdir();
    // Validation (episode 0): constant velocity is exact. Test (episode 1): the motion turns
    // back every 20 frames, where hold wins at long horizons.
    let ds = dataset_of(dir.path(), 2, 200, |t, c| [0.01 * t as f64, -0.002 * t as f64, 0.0][c]);
    let root = dir.path().join("ds");
    let mut csv = String::from("time,j0,j1,g\n");
    for t in 0..200 {
        let x = if t % 40 < 20 { t % 40 } else { 40 - t % 40 } as f64;
        csv += &format!("{},{},{},0\n", t as f64 * 0.02, 0.01 * x, -0.002 * x);
    }
    std::fs::write(root.join("episodes/episode_001.csv"), csv).unwrap();
    let ds = Dataset { episodes: Dataset::load(&root).unwrap().episodes, ..ds };
    let cfg = EvalConfig { warmup: 10, horizons: vec![1, 50], stride: 5 };
    let valid = evaluate_baselines(&ds, &[Segment::whole(&ds, 0)], &[&Hold, &ConstantVelocity], &cfg).unwrap();
    let choice = BaselineChoice::from_report(&valid);
    assert_eq!(choice.at(50), Some("const_vel"));
    assert!(valid.horizons.iter().all(|h| h.model().arm.is_none()), "no model in a baseline-only report");
    let enc = fit(&ds, &[Segment::whole(&ds, 0)]);
    let dev = device();
    let model = config(CellKind::Rnn, enc.input_dim(), 4, 1, 3).init(&dev, 0);
    let test = [Segment::whole(&ds, 1)];
    let baselines: [&dyn Baseline; 2] = [&Hold, &ConstantVelocity];
    let r = evaluate(&EvalInputs { choice: Some(&choice), ..inputs(&model, &enc, &ds, &test, &baselines) }, &cfg, &dev)
        .unwrap();
    let h50 = &r.horizons[1];
    assert_eq!(h50.chosen().unwrap().name, "const_vel");
    assert_eq!(h50.oracle().unwrap().name, "hold");
    assert!(h50.ratio_to_oracle().unwrap() > h50.ratio_to_chosen().unwrap(), "the oracle is the stricter comparison");
    assert!(r.to_string().contains("/chosen") && r.to_string().contains("/oracle"));
}

/// The fits run in parallel over chunks of the training part: what they give must not depend on
/// the number of threads, and the residual scale, measured through a dense product over blocks
/// of frames, must be the one the host map gives frame by frame.
#[test]
fn fits_are_the_same_on_any_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    // 3 × 30 000 frames: more than one chunk of the parallel passes (65 536 frames each).
    let (episodes, frames) = (3, 30_000);
    let ds = dataset_of(dir.path(), episodes, frames, |t, c| {
        (t as f64 * 0.003 * (c + 1) as f64).sin() + 0.01 * ((t * 7919 + c * 31) % 13) as f64
    });
    let segments: Vec<Segment> = (0..episodes).map(|e| Segment::whole(&ds, e)).collect();
    let fit_on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let baselines = Baselines::fit(&ds, &segments, &BaselineConfig::default()).unwrap();
            let encoding = Encoding::fit(&ds, &segments, EncodingConfig::default(), &baselines).unwrap();
            (baselines.linear_ar, baselines.channel_ar, encoding)
        })
    };
    let one = fit_on(1);
    assert!(one == fit_on(2), "the fit differs between one and two threads");

    let encoding = one.2;
    let (dim, history) = (ds.dim(), encoding.history());
    let (mut z, mut base) = (vec![0f32; encoding.maps().layout.lag_len()], vec![0f32; dim]);
    let (mut sum, mut sum_sq, mut n) = (vec![0f64; dim], vec![0f64; dim], 0usize);
    for e in 0..episodes {
        let episode = &ds.episodes[e];
        for t in history + 1..frames {
            encoding.maps().base(episode.frames(t - 1 - history..t), &mut z, &mut base);
            for c in 0..dim {
                let r = (episode.frame(t)[c] - base[c]) as f64;
                sum[c] += r;
                sum_sq[c] += r * r;
            }
            n += 1;
        }
    }
    for c in 0..dim {
        let mean = sum[c] / n as f64;
        let std = (sum_sq[c] / n as f64 - mean * mean).sqrt();
        let fitted = encoding.target_std[c] as f64;
        assert!((fitted - std).abs() <= 1e-4 * std, "channel {c}: residual std {fitted} fitted, {std} frame by frame");
    }
}
