use trajrnn::data::{Dataset, Normalizer, SplitConfig, WindowSpec, prepare};
use trajrnn::eval::{RolloutSpec, constant_velocity, one_step_errors, rollout_errors};
use trajrnn::model::{CellKind, ModelConfig};

use crate::common::*;

#[test]
fn constant_velocity_extrapolates() {
    let mut out = [0f32; 2];
    constant_velocity(&[1.0, 2.0], &[1.5, 1.0], 4, &mut out);
    assert_eq!(out, [3.5, -3.0]);
}

/// On motion with constant velocity, that baseline is exact and hold's error grows linearly with
/// the horizon; the metrics must say exactly that.
#[test]
fn baselines_score_as_computed_by_hand() {
    let dir = tempdir();
    let root = write_dataset(dir.path(), &[10, 10]);
    for e in 0..2 {
        let mut csv = String::from("time,j0,j1,g\n");
        for t in 0..200 {
            csv += &format!("{},{},{},{}\n", t as f64 * 0.02, 0.01 * t as f64, -0.002 * t as f64, 0.0);
        }
        std::fs::write(root.join(format!("episodes/episode_{e:03}.csv")), csv).unwrap();
    }
    let ds = Dataset::load(&root).unwrap();
    let p = prepare(&ds, &SplitConfig::default(), WindowSpec { context: 10, stride: 10 }).unwrap();
    let norm: &Normalizer = &p.normalizer;
    let dev = device();
    let model = ModelConfig { cell: CellKind::Rnn, input_dim: norm.input_dim(), hidden: 4, layers: 1, output_dim: 3 }
        .init(&dev, 0);
    let one = one_step_errors(&model, &ds, norm, &p.valid, &dev);
    assert_eq!(one.count, p.valid.len() * 10);
    assert!(one.const_vel.iter().all(|e| *e < 1e-6));
    assert!((one.hold[0] - 0.01).abs() < 1e-6 && (one.hold[1] - 0.002).abs() < 1e-6 && one.hold[2] == 0.0);
    let spec = RolloutSpec { warmup: 10, horizons: vec![1, 5, 20], stride: 7 };
    let h = rollout_errors(&model, &ds, norm, &p.split.valid, &spec, &dev);
    for he in &h {
        assert!(he.errors.const_vel[0] < 1e-5);
        assert!((he.errors.hold[0] - 0.01 * he.horizon as f64).abs() < 1e-5);
        assert!(he.errors.model.iter().all(|e| e.is_finite()));
    }
    // Anchors from frame 9 to 179 every 7 frames.
    assert_eq!(h[0].errors.count, (179 - 9) / 7 + 1);
}
