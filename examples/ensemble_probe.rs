// Not committed: probes the gain of averaging the rollouts of several checkpoints.
use trajrnn::data::{ChannelRole, Dataset, Segment};
use trajrnn::eval::{anchors, context};
use trajrnn::rollout::rollout;

fn main() -> trajrnn::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data = &args[0];
    let ckpts = &args[1..];
    let device = trajrnn::Backend::Flex.device()?;
    let raw = Dataset::load(data)?;
    let cks: Vec<_> = ckpts.iter().map(|p| trajrnn::checkpoint::load(p.as_ref(), &device).unwrap()).collect();
    let ds = cks[0].meta.data.prepare(&cks[0].meta.data.matching(&raw)?)?.0;
    let segs: Vec<Segment> = (0..ds.episodes.len()).map(|e| Segment::whole(&ds, e)).collect();
    let horizons = [1usize, 10, 50, 100];
    let warmup = 64;
    let an = anchors(&segs, warmup, 100, 10);
    let dim = ds.dim();
    let joints: Vec<usize> =
        ds.meta.roles().iter().enumerate().filter(|(_, r)| **r == ChannelRole::Joint).map(|(c, _)| c).collect();
    let ctx: Vec<_> = an.iter().map(|&(e, a)| context(&ds, e, a, warmup, 100)).collect();
    let mut preds: Vec<Vec<f32>> = vec![];
    for ck in &cks {
        let r = rollout(&ck.model, &ck.meta.encoding, &ctx, 100, &device)?;
        preds.push(r.states);
    }
    let truth = |i: usize, h: usize| ds.episodes[an[i].0].frame(an[i].1 + h);
    let se = |p: &[f32], t: &[f32]| {
        joints.iter().map(|&c| ((p[c] - t[c]) as f64).powi(2)).sum::<f64>() / joints.len() as f64
    };
    let bl = cks[0].meta.baselines.all();
    let mut out = vec![0f32; 100 * dim];
    for &h in &horizons {
        let mut members = vec![0f64; cks.len()];
        let mut ens = 0f64;
        let mut base = vec![0f64; bl.len()];
        for i in 0..an.len() {
            let t = truth(i, h);
            let mut mean = vec![0f32; dim];
            for (k, p) in preds.iter().enumerate() {
                let row = &p[(i * 100 + h - 1) * dim..(i * 100 + h) * dim];
                members[k] += se(row, t);
                for c in 0..dim {
                    mean[c] += row[c] / cks.len() as f32;
                }
            }
            ens += se(&mean, t);
            for (b, rule) in bl.iter().enumerate() {
                rule.rollout(&ctx[i], 100, &mut out);
                base[b] += se(&out[(h - 1) * dim..h * dim], t);
            }
        }
        let best = base.iter().cloned().fold(f64::INFINITY, f64::min);
        let r = |x: f64| (x / best).sqrt();
        println!(
            "h {h:>3}: members {}  ensemble {:.3}",
            members.iter().map(|m| format!("{:.3}", r(*m))).collect::<Vec<_>>().join(" "),
            r(ens)
        );
    }
    Ok(())
}
