use burn::prelude::*;
use trajrnn::Predictor;
use trajrnn::baselines::{BaselineConfig, Baselines, Context};
use trajrnn::checkpoint::DataInfo;
use trajrnn::data::{Dataset, Segment};
use trajrnn::encoding::{Encoding, EncodingConfig};
use trajrnn::model::CellKind;
use trajrnn::rollout::rollout;

use crate::common::*;
use crate::model::config;

fn fit(ds: &Dataset, segments: &[Segment]) -> Encoding {
    let baselines = Baselines::fit(ds, segments, &BaselineConfig::default()).unwrap();
    Encoding::fit(ds, segments, EncodingConfig::default(), &baselines).unwrap()
}

fn c(f: &[f32]) -> Context<'_> {
    Context::states(f, 3)
}

/// Misuse of the rollout API is an error, not a panic: contexts of different lengths, or too
/// short for the encoding.
#[test]
fn rollout_refuses_contexts_it_cannot_use() {
    let dir = tempdir();
    let ds = Dataset::load(write_dataset(dir.path(), &[60])).unwrap();
    let ep = &ds.episodes[0];
    let enc = fit(&ds, &[Segment { episode: 0, frames: 0..60 }]);
    let dev = device();
    let model = config(CellKind::Lstm, enc.input_dim(), 8, 1, 3).init(&dev, 0);
    let e = rollout(&model, &enc, &[c(ep.frames(0..12)), c(ep.frames(0..13))], 4, &dev).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("same"), "{e}");
    let e = rollout(&model, &enc, &[c(ep.frames(0..3))], 4, &dev).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("at least"), "{e}");
    let e = rollout(&model, &enc, &[c(&ep.frames(0..12)[..35])], 4, &dev).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("whole"), "{e}");
    let narrow = config(CellKind::Lstm, enc.input_dim() + 1, 8, 1, 3).init(&dev, 0);
    let e = rollout(&narrow, &enc, &[c(ep.frames(0..12))], 4, &dev).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("inputs"), "{e}");
}

/// A rollout steps the model with its state carried; the reference reruns the whole sequence
/// (observed frames + predictions so far) from scratch for every step. Both must agree.
#[test]
fn rollout_feeds_its_predictions_back() {
    let dir = tempdir();
    let ds = Dataset::load(write_dataset(dir.path(), &[60])).unwrap();
    let ep = &ds.episodes[0];
    let enc = fit(&ds, &[Segment { episode: 0, frames: 0..60 }]);
    let (h, d, i) = (enc.history(), 3, enc.input_dim());
    let dev = device();
    let model = config(CellKind::Lstm, i, 8, 2, 3).init(&dev, 0);
    let contexts = [ep.frames(0..12), ep.frames(20..32)];
    let r = rollout(&model, &enc, &contexts.map(|f| Context::states(f, 3)), 4, &dev).unwrap();

    for (b, context) in contexts.iter().enumerate() {
        let mut frames: Vec<f32> = context.to_vec();
        for k in 0..4 {
            let n = frames.len() / d;
            let steps = n - h;
            let mut input = vec![0f32; steps * i];
            for t in 0..steps {
                enc.encode_input(&frames[t * d..(t + h + 1) * d], &mut input[t * i..(t + 1) * i]);
            }
            let x = Tensor::<3>::from_data(TensorData::new(input, [1, steps, i]), &dev);
            let y = model.forward(x, None).output.narrow(1, steps - 1, 1).into_data().try_into_vec::<f32>().unwrap();
            let mut next = [0f32; 3];
            enc.decode(&frames[(n - h - 1) * d..], &y, &mut next);
            for (got, want) in r.state(b, k).iter().zip(&next) {
                assert!((got - want).abs() < 1e-5, "rollout {b} step {k}: {got} vs {want}");
            }
            frames.extend_from_slice(&next);
        }
    }
}

/// The streaming predictor (plain Rust on the host, and burn) gives the batched rollout's
/// numbers, frame by frame, for every cell (hidden 96: the host kernel's blocks of 256, 128 and
/// 64 lanes and its tail).
#[test]
fn predictor_streams_what_the_model_computes() {
    let dir = tempdir();
    let ds = Dataset::load(write_dataset(dir.path(), &[80, 80, 80])).unwrap();
    let ep = &ds.episodes[0];
    let prepared = crate::training::prepare_by_episode(&ds);
    let enc = prepared.encoding.clone();
    let dev = device();
    for (cell, hidden) in CellKind::ALL.into_iter().flat_map(|c| [(c, 16), (c, 96)]) {
        let model = config(cell, enc.input_dim(), hidden, 2, 3).init(&dev, 3);
        let info = DataInfo::of(&ds, false);
        let mut host = Predictor::from_model(&model, enc.clone(), info.clone());
        let dir2 = tempdir();
        let path = dir2.path().join("m.ckpt");
        let meta = crate::training::meta_for(&model, &prepared, &ds);
        trajrnn::checkpoint::save(&path, &model, &meta, None).unwrap();
        let mut burn_side = Predictor::load(&path, &dev).unwrap();
        let warm = 20;
        for t in 0..warm {
            let a = host.observe(ep.frame(t)).unwrap().map(<[f32]>::to_vec);
            let b = burn_side.observe(ep.frame(t)).unwrap().map(<[f32]>::to_vec);
            assert_eq!(a.is_some(), t >= enc.history());
            if let (Some(a), Some(b)) = (a, b) {
                for (x, y) in a.iter().zip(&b) {
                    assert!((x - y).abs() < 1e-5, "{cell} frame {t}: host {x} vs burn {y}");
                }
            }
        }
        // A rollout from the predictor equals the batched rollout from the same frames.
        let reference = rollout(&model, &enc, &[Context::states(ep.frames(0..warm), 3)], 10, &dev).unwrap();
        for p in [&host, &burn_side] {
            let mine = p.rollout(10).unwrap();
            for (k, (x, y)) in mine.iter().zip(&reference.states).enumerate() {
                assert!((x - y).abs() < 1e-5, "{cell} rollout value {k}: {x} vs {y}");
            }
        }
        // Rolling out does not change the predictor's state.
        let next_a = host.observe(ep.frame(warm)).unwrap().unwrap().to_vec();
        let next_b = burn_side.observe(ep.frame(warm)).unwrap().unwrap().to_vec();
        for (x, y) in next_a.iter().zip(&next_b) {
            assert!((x - y).abs() < 1e-5);
        }
        // Wrong frame length and non-finite values are errors, not panics.
        assert!(host.observe(&[0.0; 2]).unwrap_err().to_string().contains("3"));
        assert!(host.observe(&[0.0, f32::NAN, 0.0]).unwrap_err().to_string().contains("not finite"));
        host.reset();
        assert!(host.observe(ep.frame(0)).unwrap().is_none());
        assert!(host.rollout(3).is_err());
    }
}
