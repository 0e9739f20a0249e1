//! Experiment 6: what does the hidden state hold while the robot picks and places? A
//! next-state LSTM is trained on the synthetic data; linear probes read the phase and the
//! gripper state from its h_t on held-out episodes, next to the same probes on the raw state and
//! on the model's own input. A PCA of h_t over an episode goes to a PNG and, next to the arm, to
//! a Rerun recording. The same is done on the real Panda demonstrations, whose phases are
//! labelled from the gripper's opening.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use nalgebra::DMatrix;

use super::Options;
use super::plot::{self, Axis, Panel, Series, Style};
use super::robot::{RobotTraining, episode_hidden, episode_inputs, train_model};
use super::table::{Table, num};
use crate::data::{Dataset, SplitConfig, SplitMode};
use crate::diagnostics::pca::Pca;
use crate::diagnostics::readout::{SoftmaxProbe, accuracy};
use crate::encoding::Encoding;
use crate::error::{Error, Result};
use crate::model::{CellKind, TrajectoryModel};

/// Per-frame features and labels of a set of frames.
#[derive(Default)]
pub(super) struct Frames {
    pub(crate) hidden: Vec<f64>,
    pub(crate) input: Vec<f64>,
    pub(crate) state: Vec<f64>,
    pub(crate) labels: Vec<usize>,
    /// (episode, frame) of each row.
    pub(crate) index: Vec<(usize, usize)>,
}

impl Frames {
    pub(crate) fn rows(&self) -> usize {
        self.labels.len()
    }
}

/// Which features of [`Frames`] a probe reads.
type Features = fn(&Frames) -> &Vec<f64>;

fn as_matrix(v: &[f64], rows: usize) -> DMatrix<f64> {
    DMatrix::from_row_slice(rows, v.len() / rows.max(1), v)
}

/// Collects features of frames `frames` (a range per episode) with `label(episode, frame)`.
pub(super) fn collect(
    model: &TrajectoryModel,
    ds: &Dataset,
    enc: &Encoding,
    parts: &[(usize, std::ops::Range<usize>)],
    label: &dyn Fn(usize, usize) -> usize,
    device: &Device,
) -> Frames {
    let mut f = Frames::default();
    let (hd, nin) = (model.hidden_size(), enc.input_dim());
    let mut last: Option<(usize, Vec<f32>, Vec<f32>, usize)> = None;
    for (e, range) in parts {
        if last.as_ref().is_none_or(|l| l.0 != *e) {
            let h = episode_hidden(model, ds, enc, *e, device);
            let (x, first) = episode_inputs(ds, enc, *e);
            last = Some((*e, h, x, first));
        }
        let (_, h, x, first) = last.as_ref().expect("set above");
        for t in range.clone().filter(|t| t >= first) {
            let r = t - first;
            f.hidden.extend(crate::data::channels::row(h, hd, r).iter().map(|v| *v as f64));
            f.input.extend(crate::data::channels::row(x, nin, r).iter().map(|v| *v as f64));
            f.state.extend(ds.episodes[*e].frame(t).iter().map(|v| *v as f64));
            f.labels.push(label(*e, t));
            f.index.push((*e, t));
        }
    }
    f
}

/// A probe's accuracy per class and overall, fitted on `fit` and scored on `score`.
fn probe(
    fit: &Frames,
    score: &Frames,
    features: Features,
    columns: Option<std::ops::Range<usize>>,
    classes: usize,
    iterations: usize,
) -> (Vec<Option<f64>>, f64) {
    let pick = |f: &Frames| {
        let m = as_matrix(features(f), f.rows());
        match &columns {
            Some(c) => m.columns(c.start, c.len()).into_owned(),
            None => m,
        }
    };
    let p = SoftmaxProbe::fit(&pick(fit), &fit.labels, classes, 1e-4, iterations);
    accuracy(&p.predict(&pick(score)), &score.labels, classes)
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.1}", 100.0 * v))
}

pub(crate) fn run(o: &Options, device: &Device, png: &Path) -> Result<(String, Vec<PathBuf>)> {
    let mut text = String::new();
    let mut files = vec![png.to_path_buf()];
    let ds = o.load_synthetic()?;
    let phases = ds.meta.phases.clone();
    let k = phases.len();
    let hidden = o.size(64, 8);
    let epochs = o.size(10, 1);
    let iterations = o.size(400, 20);
    let t =
        RobotTraining { context: o.size(64, 16), seed: o.seed, ..RobotTraining::new(CellKind::Lstm, hidden, epochs) };
    let trained = train_model(&ds, &t, device)?;
    let enc = &trained.prepared.encoding;
    let whole = |segs: &[crate::data::Segment], n: usize| -> Vec<(usize, std::ops::Range<usize>)> {
        segs.iter().take(n).map(|s| (s.episode, s.frames.clone())).collect()
    };
    let phase_of = |e: usize, t: usize| ds.episodes[e].phase.as_ref().map_or(0, |p| p[t] as usize);
    let fit_parts = whole(&trained.prepared.split.train, o.size(60, 4));
    let score_parts = whole(&trained.prepared.split.valid, usize::MAX);
    let fit = collect(&trained.model, &ds, enc, &fit_parts, &phase_of, device);
    let score = collect(&trained.model, &ds, enc, &score_parts, &phase_of, device);

    let sets: [(&str, Features); 3] =
        [("h_t (LSTM)", |f| &f.hidden), ("x_t (model input)", |f| &f.input), ("q_t (raw state)", |f| &f.state)];
    let mut header = vec!["probe from"];
    header.extend(phases.iter().map(String::as_str));
    header.push("all");
    let mut table = Table::new(&header);
    for (name, features) in sets {
        let (per, all) = probe(&fit, &score, features, None, k, iterations);
        let mut row = vec![name.to_string()];
        row.extend(per.into_iter().map(pct));
        row.push(pct(Some(all)));
        table.row(row);
    }
    // Gripper state: closed on the cube (lift, transport, place) or not.
    let holding = |p: usize| ["lift", "transport", "place"].contains(&phases[p].as_str()) as usize;
    let relabel = |f: &Frames| Frames {
        hidden: f.hidden.clone(),
        input: f.input.clone(),
        state: f.state.clone(),
        labels: f.labels.iter().map(|&p| holding(p)).collect(),
        index: f.index.clone(),
    };
    let (gfit, gscore) = (relabel(&fit), relabel(&score));
    let mut grip = Table::new(&["probe from", "open/other %", "holding %", "all %"]);
    let arm = 0..ds.meta.joints.len();
    for (name, features, cols) in [
        ("h_t (LSTM)", (|f: &Frames| &f.hidden) as Features, None),
        ("arm joints q_t[0..7]", |f: &Frames| &f.state, Some(arm.clone())),
        ("q_t (raw state, with fingers)", |f: &Frames| &f.state, None),
    ] {
        let (per, all) = probe(&gfit, &gscore, features, cols, 2, iterations);
        grip.row(vec![name.into(), pct(per[0]), pct(per[1]), pct(Some(all))]);
    }
    writeln!(
        text,
        "Experiment 6: what the hidden state holds. LSTM, {hidden} units, trained {epochs} epochs on {} (next-state \
         prediction, {}-step windows; validation loss {}). Linear (softmax) probes fitted on {} frames of {} training \
         episodes, scored on {} frames of {} held-out episodes; the model runs each episode from its first frame.\n\n\
         Phase probe, held-out accuracy per phase (%):\n{table}\n\
         Gripper-state probe (holding the cube = lift, transport, place), held-out accuracy (%):\n{grip}",
        ds.meta.name,
        t.context,
        num(trained.outcome.best_score),
        fit.rows(),
        fit_parts.len(),
        score.rows(),
        score_parts.len()
    )
    .ok();

    if score.rows() < 3 || fit.rows() < 3 {
        return Err(Error::Config(format!(
            "{}: too few frames to fit and score probes ({} and {})",
            o.synthetic.display(),
            fit.rows(),
            score.rows()
        )));
    }
    // PCA of the held-out hidden states.
    let hs = as_matrix(&score.hidden, score.rows());
    let pca = Pca::fit(&hs, 3);
    let proj = pca.project(&hs);
    writeln!(
        text,
        "PCA of held-out h_t: the first three components explain {:.1} %, {:.1} % and {:.1} % of the variance.",
        100.0 * pca.explained[0],
        100.0 * pca.explained.get(1).unwrap_or(&0.0),
        100.0 * pca.explained.get(2).unwrap_or(&0.0)
    )
    .ok();
    let stride = (score.rows() / 4000).max(1);
    let mut scatter: Vec<Series> =
        phases.iter().enumerate().map(|(i, p)| Series::new(p, vec![], Style::Points, i)).collect();
    for r in (0..score.rows()).step_by(stride) {
        scatter[score.labels[r]].points.push((proj[(r, 0)], proj[(r, 1)]));
    }
    let first_episode = score.index.first().map(|i| i.0);
    let mut one: Vec<Series> =
        phases.iter().enumerate().map(|(i, p)| Series::new(p, vec![], Style::LinePoints, i)).collect();
    for r in 0..score.rows() {
        if Some(score.index[r].0) == first_episode {
            one[score.labels[r]].points.push((proj[(r, 0)], proj[(r, 1)]));
        }
    }

    // The real demonstrations, phases from the gripper opening.
    let real = real_demos(o, device, iterations)?;
    text.push_str(&real.0);

    plot::save(
        png,
        "What the hidden state holds: PCA of h_t coloured by phase (held-out synthetic episodes)",
        &[
            Panel {
                title: format!("all held-out frames ({} episodes)", score_parts.len()),
                x: Axis::linear("PC 1"),
                y: Axis::linear("PC 2"),
                series: scatter,
            },
            Panel {
                title: format!("one episode ({})", first_episode.map_or("-".into(), |e| ds.episodes[e].name.clone())),
                x: Axis::linear("PC 1"),
                y: Axis::linear("PC 2"),
                series: one,
            },
            real.1,
        ],
        3,
    )?;

    #[cfg(feature = "rerun")]
    if let Some(e) = first_episode {
        let rows: Vec<usize> = (0..score.rows()).filter(|&r| score.index[r].0 == e).collect();
        let path = o.out_dir.join("probes.rrd");
        super::probes_viz::record(&path, &ds, e, &rows, &score, &proj, &phases)?;
        writeln!(text, "Recording: {} (episode {}, arm next to the PCA of h_t).", path.display(), ds.episodes[e].name)
            .ok();
        files.push(path);
    }
    Ok((text, files))
}

/// Labels from the gripper opening (sum of the finger slides): closed = carry; open frames
/// before the first grasp = approach, after the last release = retreat, and an open stretch
/// between two grasps is split at its middle (retreat, then approach).
pub(crate) fn label_from_gripper(opening: &[f64]) -> Vec<usize> {
    const APPROACH: usize = 0;
    const CARRY: usize = 1;
    const RETREAT: usize = 2;
    let max = opening.iter().copied().fold(f64::MIN, f64::max);
    let min = opening.iter().copied().fold(f64::MAX, f64::min);
    let threshold = max - 0.1 * (max - min);
    let closed: Vec<bool> = opening.iter().map(|&o| o < threshold).collect();
    let mut labels = vec![APPROACH; opening.len()];
    let mut t = 0;
    while t < closed.len() {
        let start = t;
        while t < closed.len() && closed[t] == closed[start] {
            t += 1;
        }
        if closed[start] {
            labels[start..t].fill(CARRY);
        } else {
            let after_release = start > 0;
            let before_grasp = t < closed.len();
            match (after_release, before_grasp) {
                (false, _) => labels[start..t].fill(APPROACH),
                (true, false) => labels[start..t].fill(RETREAT),
                (true, true) => {
                    let mid = (start + t) / 2;
                    labels[start..mid].fill(RETREAT);
                    labels[mid..t].fill(APPROACH);
                }
            }
        }
    }
    labels
}

/// Probes on the real Panda demonstration(s): a model trained on each episode's frames before
/// its last 20 % (time blocks with a gap), probes fitted on those frames and scored on the last 20 %.
fn real_demos(o: &Options, device: &Device, iterations: usize) -> Result<(String, Panel)> {
    let ds = Dataset::load(&o.real)?;
    let names = ["approach", "carry", "retreat"];
    let labels: Vec<Vec<usize>> = ds
        .episodes
        .iter()
        .map(|e| {
            let g: Vec<usize> = (0..ds.dim())
                .filter(|&c| c >= ds.meta.joints.len() && c < ds.meta.joints.len() + ds.meta.gripper.len())
                .collect();
            if g.len() != 2 {
                return Err(Error::Config(format!("{}: expected two finger channels", o.real.display())));
            }
            let opening: Vec<f64> = (0..e.len()).map(|t| (e.frame(t)[g[0]] - e.frame(t)[g[1]]).abs() as f64).collect();
            Ok(label_from_gripper(&opening))
        })
        .collect::<Result<_>>()?;
    let t = RobotTraining {
        context: o.size(64, 16),
        split: SplitConfig {
            mode: SplitMode::TimeBlocks,
            valid_fraction: 0.2,
            test_fraction: 0.1,
            gap: 32,
            ..SplitConfig::default()
        },
        seed: o.seed,
        ..RobotTraining::new(CellKind::Lstm, o.size(64, 8), o.size(15, 1))
    };
    let trained = train_model(&ds, &t, device)?;
    let enc = &trained.prepared.encoding;
    let parts = |segs: &[crate::data::Segment]| segs.iter().map(|s| (s.episode, s.frames.clone())).collect::<Vec<_>>();
    let label = |e: usize, t: usize| labels[e][t];
    let fit = collect(&trained.model, &ds, enc, &parts(&trained.prepared.split.train), &label, device);
    let score = collect(&trained.model, &ds, enc, &parts(&trained.prepared.split.valid), &label, device);
    let mut header = vec!["probe from"];
    header.extend(names);
    header.push("all");
    let mut table = Table::new(&header);
    let count = |f: &Frames, c: usize| f.labels.iter().filter(|&&l| l == c).count();
    let sets: [(&str, Features); 2] = [("h_t (LSTM)", |f| &f.hidden), ("q_t (raw state)", |f| &f.state)];
    for (name, features) in sets {
        let (per, all) = probe(&fit, &score, features, None, names.len(), iterations);
        let mut row = vec![name.to_string()];
        row.extend(per.into_iter().map(pct));
        row.push(pct(Some(all)));
        table.row(row);
    }
    let majority = (0..3).map(|c| count(&score, c)).max().unwrap_or(0) as f64 / score.rows().max(1) as f64;
    let text = format!(
        "\nReal demonstrations ({}: {} frames at {} Hz), phases from the gripper opening (closed = carry; open = approach \
         before a grasp, retreat after a release, an open stretch between two objects split at its middle). LSTM, {} units, \
         trained {} epochs on the frames before the last 20 % (time blocks, a 32-frame gap; validation loss {}); probes fitted on {} training frames \
         ({} approach, {} carry, {} retreat), scored on {} held-out frames ({} approach, {} carry, {} retreat; always \
         answering the commonest label scores {:.1} %).\n{table}",
        ds.meta.name,
        ds.total_frames(),
        ds.meta.rate_hz,
        t.hidden,
        t.epochs,
        num(trained.outcome.best_score),
        fit.rows(),
        count(&fit, 0),
        count(&fit, 1),
        count(&fit, 2),
        score.rows(),
        count(&score, 0),
        count(&score, 1),
        count(&score, 2),
        100.0 * majority
    );
    let all = collect(
        &trained.model,
        &ds,
        enc,
        &ds.episodes.iter().enumerate().map(|(e, ep)| (e, 0..ep.len())).collect::<Vec<_>>(),
        &label,
        device,
    );
    let hs = as_matrix(&all.hidden, all.rows());
    let proj = Pca::fit(&hs, 2).project(&hs);
    let mut series: Vec<Series> =
        names.iter().enumerate().map(|(i, n)| Series::new(*n, vec![], Style::Points, 7 + i)).collect();
    for r in 0..all.rows() {
        series[all.labels[r]].points.push((proj[(r, 0)], proj[(r, 1)]));
    }
    let panel = Panel {
        title: format!("real Panda demo ({} frames), phases from the gripper", all.rows()),
        x: Axis::linear("PC 1"),
        y: Axis::linear("PC 2"),
        series,
    };
    Ok((text, panel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gripper_labels_split_open_stretches_between_grasps() {
        let o = [0.08, 0.08, 0.03, 0.03, 0.08, 0.08, 0.08, 0.08, 0.04, 0.08, 0.08];
        assert_eq!(label_from_gripper(&o), vec![0, 0, 1, 1, 2, 2, 0, 0, 1, 2, 2]);
    }
}
