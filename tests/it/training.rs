use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use trajrnn::data::{Dataset, Prepared, SplitConfig, WindowSpec, prepare};
use trajrnn::model::{CellKind, ModelConfig, TrajectoryModel};
use trajrnn::train::checkpoint;
use trajrnn::train::{
    CheckpointMeta, CheckpointTarget, DataInfo, TrainConfig, TrainingSet, clip_global_norm, global_grad_norm, train,
};

use crate::common::*;

/// Every gradient of the model, on the host, in a fixed order.
fn host_grads(model: &TrajectoryModel, grads: &GradientsParams) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    let v2 = |id| grads.get::<2>(id).map(|g| g.into_data().try_into_vec::<f32>().unwrap());
    let v1 = |id| grads.get::<1>(id).map(|g| g.into_data().try_into_vec::<f32>().unwrap());
    for l in &model.layers {
        out.extend([v2(l.w_x.id), v2(l.w_h.id), v1(l.b.id)].into_iter().flatten());
        out.extend(l.b_hn.as_ref().and_then(|b| v1(b.id)));
    }
    out.extend(v2(model.head.weight.id));
    out.extend(model.head.bias.as_ref().and_then(|b| v1(b.id)));
    out
}

#[test]
fn global_norm_clipping_matches_hand_computation() {
    let dev = device().autodiff();
    dev.seed(11);
    let model = ModelConfig { cell: CellKind::Gru, input_dim: 3, hidden: 5, layers: 2, output_dim: 2 }.init(&dev, 0);
    let x = Tensor::<3>::random([4, 6, 3], Distribution::Default, &dev);
    let loss = model.forward(x, None).output.square().mean() * 100.0;
    let mut grads = GradientsParams::from_grads(loss.backward(), &model);
    let before = host_grads(&model, &grads);
    assert_eq!(before.len(), 2 * 4 + 2, "every parameter has a gradient");
    let hand_norm = before.iter().flatten().map(|g| (*g as f64).powi(2)).sum::<f64>().sqrt();
    assert!((global_grad_norm(&model, &grads) - hand_norm).abs() < 1e-6 * hand_norm.max(1.0));

    let max_norm = hand_norm / 4.0;
    let stats = clip_global_norm(&model, &mut grads, max_norm);
    assert!((stats.norm_before - hand_norm).abs() < 1e-6 * hand_norm);
    let after = host_grads(&model, &grads);
    let after_norm = after.iter().flatten().map(|g| (*g as f64).powi(2)).sum::<f64>().sqrt();
    assert!((after_norm - max_norm).abs() < 1e-4 * max_norm, "{after_norm} vs {max_norm}");
    // One factor for all tensors: the direction is unchanged.
    let factor = max_norm / (hand_norm + 1e-6);
    for (b, a) in before.iter().flatten().zip(after.iter().flatten()) {
        assert!((*a as f64 - *b as f64 * factor).abs() < 1e-6 + 1e-4 * (*b as f64 * factor).abs());
    }
    // Under the bound nothing changes.
    let again = clip_global_norm(&model, &mut grads, max_norm * 10.0);
    assert!(!again.clipped());
    assert_eq!(host_grads(&model, &grads), after);
}

struct Setup {
    _dir: tempfile::TempDir,
    dataset: Dataset,
    prepared: Prepared,
    model: ModelConfig,
}

fn setup() -> Setup {
    let dir = tempdir();
    let dataset = Dataset::load(write_dataset(dir.path(), &[300, 300, 300])).unwrap();
    let prepared = prepare(&dataset, &SplitConfig::default(), WindowSpec { context: 16, stride: 4 }).unwrap();
    let model = ModelConfig {
        cell: CellKind::Lstm,
        input_dim: prepared.normalizer.input_dim(),
        hidden: 16,
        layers: 1,
        output_dim: prepared.normalizer.dim(),
    };
    Setup { _dir: dir, dataset, prepared, model }
}

fn set(s: &Setup) -> TrainingSet<'_> {
    TrainingSet {
        dataset: &s.dataset,
        normalizer: &s.prepared.normalizer,
        train: &s.prepared.train,
        valid: &s.prepared.valid,
    }
}

fn config(epochs: usize, seed: u64) -> TrainConfig {
    TrainConfig { epochs, batch_size: 16, learning_rate: 5e-3, clip_norm: Some(1.0), seed }
}

fn meta(s: &Setup, c: &TrainConfig) -> CheckpointMeta {
    CheckpointMeta {
        trajrnn_version: "test".into(),
        model: s.model.clone(),
        normalizer: s.prepared.normalizer.clone(),
        data: DataInfo {
            dataset: "tiny".into(),
            robot: "test".into(),
            channels: s.dataset.meta.channels(),
            joints: 2,
            rate_hz: 50.0,
        },
        window: WindowSpec { context: 16, stride: 4 },
        train: c.clone(),
        epoch: 0,
        valid_loss: None,
    }
}

#[test]
fn training_learns_and_is_reproducible() {
    let s = setup();
    let c = config(8, 1);
    let a = train(&s.model, set(&s), &c, &device(), None, |_| {}).unwrap();
    // Predicting "no change" scores the mean squared normalised target.
    let zero_loss = {
        let b = trajrnn::data::window::gather_batch(&s.dataset, &s.prepared.normalizer, &s.prepared.valid);
        b.targets.iter().map(|t| (*t as f64).powi(2)).sum::<f64>() / b.targets.len() as f64
    };
    let best = a.history[a.best_epoch - 1].valid_loss;
    assert!(best < 0.2 * zero_loss, "validation loss {best} vs {zero_loss} for a zero prediction");
    assert!(a.history.last().unwrap().train_loss < a.history[0].train_loss);

    let b = train(&s.model, set(&s), &c, &device(), None, |_| {}).unwrap();
    assert_eq!(
        a.history.iter().map(|h| h.valid_loss).collect::<Vec<_>>(),
        b.history.iter().map(|h| h.valid_loss).collect::<Vec<_>>()
    );
    let other = train(&s.model, set(&s), &config(8, 2), &device(), None, |_| {}).unwrap();
    assert_ne!(a.history[0].train_loss, other.history[0].train_loss);
}

#[test]
fn best_checkpoint_round_trips() {
    let s = setup();
    let dir = tempdir();
    let path = dir.path().join("run/best.ckpt");
    let c = config(3, 5);
    let outcome =
        train(&s.model, set(&s), &c, &device(), Some(CheckpointTarget { path: &path, meta: meta(&s, &c) }), |_| {})
            .unwrap();
    let (loaded, m) = checkpoint::load(&path, &device()).unwrap();
    assert_eq!(m.epoch, outcome.best_epoch);
    assert_eq!(m.valid_loss, Some(outcome.history[outcome.best_epoch - 1].valid_loss));
    assert_eq!(m.normalizer, s.prepared.normalizer);
    let x = Tensor::<3>::random([2, 7, s.model.input_dim], Distribution::Default, &device());
    let y1 = outcome.model.forward(x.clone(), None).output.into_data().try_into_vec::<f32>().unwrap();
    let y2 = loaded.forward(x, None).output.into_data().try_into_vec::<f32>().unwrap();
    assert_eq!(y1, y2);
    // Only the checkpoint is left in the folder: no temporary files.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["best.ckpt"]);
}

#[test]
fn damaged_checkpoints_are_reported() {
    let s = setup();
    let dir = tempdir();
    let path = dir.path().join("best.ckpt");
    let c = config(1, 0);
    let model = s.model.init(&device(), 0);
    checkpoint::save(&path, &model, &meta(&s, &c)).unwrap();
    let bytes = std::fs::read(&path).unwrap();

    let truncated = dir.path().join("truncated.ckpt");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let e = checkpoint::load(&truncated, &device()).unwrap_err().to_string();
    assert!(e.contains("truncated.ckpt"), "{e}");

    let foreign = dir.path().join("foreign.ckpt");
    std::fs::write(&foreign, b"hello world, not a checkpoint").unwrap();
    assert!(checkpoint::load(&foreign, &device()).unwrap_err().to_string().contains("not a trajrnn checkpoint"));

    // A checkpoint whose configuration does not fit its weights.
    let mut other = meta(&s, &c);
    other.model.hidden = 8;
    let mismatched = dir.path().join("mismatched.ckpt");
    checkpoint::save(&mismatched, &s.model.init(&device(), 0), &other).unwrap();
    let e = checkpoint::load(&mismatched, &device()).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("do not fit"), "{e}");

    // A failed save leaves the previous file untouched.
    let blocked = path.join("inside-a-file.ckpt");
    assert!(checkpoint::save(&blocked, &model, &meta(&s, &c)).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn unavailable_backend_is_a_clear_error() {
    for backend in trajrnn::Backend::ALL {
        if !backend.compiled() {
            let e = backend.device().unwrap_err().to_string();
            assert!(e.contains("not compiled") && e.contains(&format!("`{backend}`")), "{e}");
        }
    }
    assert!("cuda".parse::<trajrnn::Backend>().unwrap_err().to_string().contains("flex, ndarray or wgpu"));
}

#[test]
fn flex_and_ndarray_agree() {
    if !trajrnn::Backend::NdArray.compiled() {
        return;
    }
    let s = setup();
    let c = config(2, 3);
    let flex = train(&s.model, set(&s), &c, &trajrnn::Backend::Flex.device().unwrap(), None, |_| {}).unwrap();
    let nd = train(&s.model, set(&s), &c, &trajrnn::Backend::NdArray.device().unwrap(), None, |_| {}).unwrap();
    for (a, b) in flex.history.iter().zip(&nd.history) {
        assert!(
            (a.valid_loss - b.valid_loss).abs() < 1e-4 * a.valid_loss.max(1e-3),
            "{} vs {}",
            a.valid_loss,
            b.valid_loss
        );
    }
}
