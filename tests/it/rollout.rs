use burn::prelude::*;
use trajrnn::data::{Dataset, Normalizer, Segment};
use trajrnn::model::{CellKind, ModelConfig};
use trajrnn::rollout::rollout;

use crate::common::*;

/// A rollout steps the model with its state carried; the reference reruns the whole sequence
/// (observed frames + predictions so far) from scratch for every step. Both must agree.
#[test]
fn rollout_feeds_its_predictions_back() {
    let dir = tempdir();
    let ds = Dataset::load(write_dataset(dir.path(), &[60])).unwrap();
    let ep = &ds.episodes[0];
    let norm = Normalizer::fit(&ds, &[Segment { episode: 0, frames: 0..60 }]).unwrap();
    let dev = device();
    dev.seed(5);
    let model = ModelConfig { cell: CellKind::Lstm, input_dim: 6, hidden: 8, layers: 2, output_dim: 3 }.init(&dev, 0);
    let contexts = [ep.frames(0..12), ep.frames(20..32)];
    let r = rollout(&model, &norm, &contexts, 4, &dev);

    for (b, context) in contexts.iter().enumerate() {
        let mut frames: Vec<f32> = context.to_vec();
        for k in 0..4 {
            let n = frames.len() / 3;
            let mut input = vec![0f32; (n - 1) * 6];
            for t in 1..n {
                norm.encode_input(
                    &frames[(t - 1) * 3..t * 3],
                    &frames[t * 3..(t + 1) * 3],
                    &mut input[(t - 1) * 6..t * 6],
                );
            }
            let x = Tensor::<3>::from_data(TensorData::new(input, [1, n - 1, 6]), &dev);
            let y = model.forward(x, None).output.narrow(1, n - 2, 1).into_data().try_into_vec::<f32>().unwrap();
            let mut next = [0f32; 3];
            norm.decode_step(&frames[(n - 1) * 3..], &y, &mut next);
            for (got, want) in r.state(b, k).iter().zip(&next) {
                assert!((got - want).abs() < 1e-5, "rollout {b} step {k}: {got} vs {want}");
            }
            frames.extend_from_slice(&next);
        }
    }
}
