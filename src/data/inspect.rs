//! What a dataset holds and what looks wrong in it: timing (nominal against measured rate,
//! jitter, gaps), per-channel statistics and anomalies (constant channels, jumps, degrees in a
//! radian channel, repeated frames). `trajrnn inspect` prints this; `--json` gives it to machines.

use std::fmt;

use serde::Serialize;

use crate::data::channels::{self, ChannelKind, ChannelProfile, Treatment};
use crate::data::{ChannelRole, Dataset, Segment};

/// Settings of the anomaly checks.
#[derive(Debug, Clone, Copy)]
pub struct InspectConfig {
    /// A frame-to-frame change above this many stds of that channel's changes is a jump.
    pub jump_sigma: f64,
    /// A time step above this multiple of the nominal period is a gap.
    pub gap_factor: f64,
}

impl Default for InspectConfig {
    fn default() -> Self {
        Self { jump_sigma: 10.0, gap_factor: 1.5 }
    }
}

/// The report of [`inspect`]: printed by its `Display`, serialised for `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The dataset's name from `dataset.json`.
    pub name: String,
    /// The robot identifier from `dataset.json`.
    pub robot: String,
    /// Length of each episode, in dataset order.
    pub episodes: Vec<EpisodeSummary>,
    /// Frames in all episodes together.
    pub frames: usize,
    /// Sum of the episodes' durations (first to last frame), seconds.
    pub duration_s: f64,
    /// The rate `dataset.json` declares, Hz.
    pub nominal_rate_hz: f64,
    /// Time steps measured against the nominal rate.
    pub timing: Timing,
    /// Statistics of every state channel, in column order.
    pub channels: Vec<ChannelSummary>,
    /// Each channel's kind over the whole dataset and what training does with that kind (training
    /// decides from the training part alone, which may differ).
    pub kinds: Vec<ChannelKindLine>,
    /// The command channels: range, and for a command that drives a state channel, the lag at
    /// which the state follows it best and how closely.
    pub commands: Vec<CommandSummary>,
    /// What looks wrong: constant channels, jumps, degrees in a radian channel, timing gaps.
    pub anomalies: Vec<Anomaly>,
    /// Exact duplicate frames found (dropped for this inspection; the loader rejects them).
    pub duplicate_frames: usize,
    /// The loader's warnings ([`Dataset::warnings`]), e.g. joints converted from degrees.
    pub warnings: Vec<String>,
}

/// One episode's length.
#[derive(Debug, Clone, Serialize)]
pub struct EpisodeSummary {
    /// Episode name, unique in the dataset (for a dataset folder, the CSV file's stem).
    pub name: String,
    /// Number of frames.
    pub frames: usize,
    /// First to last timestamp, seconds.
    pub duration_s: f64,
}

/// The time steps of all episodes, against the nominal rate. `None` where there is no step.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    /// Rate from the median time step.
    pub measured_rate_hz: Option<f64>,
    /// Std of the time step relative to the nominal period.
    pub jitter: Option<f64>,
    /// Shortest time step between consecutive frames, seconds.
    pub min_step_s: Option<f64>,
    /// Longest time step between consecutive frames, seconds.
    pub max_step_s: Option<f64>,
    /// Time steps longer than `gap_factor` nominal periods.
    pub gaps: usize,
}

/// Statistics of one state channel over all frames, in the channel's unit (rad for joints).
#[derive(Debug, Clone, Serialize)]
pub struct ChannelSummary {
    /// Channel name, as in `dataset.json`.
    pub name: String,
    /// Joint, gripper or auxiliary.
    pub role: ChannelRole,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean value.
    pub mean: f64,
    /// Standard deviation of the values (population).
    pub std: f64,
    /// `max − min` in degrees, for joints.
    pub range_deg: Option<f64>,
    /// Std of the frame-to-frame change.
    pub delta_std: f64,
}

/// One command channel.
#[derive(Debug, Clone, Serialize)]
pub struct CommandSummary {
    /// Command channel name, as in `dataset.json`.
    pub name: String,
    /// The state channel it drives, when it drives one.
    pub drives: Option<String>,
    /// Smallest value, in the command's unit.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean value.
    pub mean: f64,
    /// Standard deviation of the values (population).
    pub std: f64,
    /// Frames by which the driven channel follows the command (the lag with the least squared
    /// difference after a constant offset, up to [`MAX_LAG`](crate::baselines::MAX_LAG)).
    pub lag_frames: Option<usize>,
    /// `lag_frames` in seconds, at the nominal rate.
    pub lag_s: Option<f64>,
    /// Correlation of the driven channel with the command at that lag.
    pub correlation: Option<f64>,
    /// RMS of `q[t] − u[t − lag] − offset`: how far the state is from its command.
    pub tracking_rms: Option<f64>,
}

/// One channel's kind, the facts behind it and what training does with it.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelKindLine {
    /// State channel name.
    pub channel: String,
    /// Constant, switch-like, quantised or smooth, over the whole dataset.
    pub kind: ChannelKind,
    /// What training would do with a channel of this kind, decided on the whole dataset.
    pub treatment: Treatment,
    /// Share of frame steps with any change.
    pub moving: f64,
    /// The smallest change between two frames (the grid it moves on).
    pub resolution: Option<f64>,
    /// Distinct values, when there are at most 16.
    pub levels: Option<usize>,
    /// Episodes in which the channel never changes.
    pub still_episodes: usize,
    /// An arm joint whose values all lie in [0, 1] on a coarse grid or in few levels: an opening
    /// (a hand, a gripper) rather than an angle.
    pub looks_like_an_opening: bool,
}

/// Something that looks wrong in the data (serialised with a `kind` tag in snake_case).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Anomaly {
    /// A channel with the same value in every frame of every episode.
    ConstantChannel {
        /// State channel name.
        channel: String,
        /// Its one value.
        value: f64,
    },
    /// Frame-to-frame changes above [`InspectConfig::jump_sigma`] stds of the channel's changes.
    Jumps {
        /// State channel name.
        channel: String,
        /// Number of such changes over all episodes.
        count: usize,
        /// Largest absolute change, in the channel's unit.
        largest: f64,
        /// `largest` in stds of the channel's frame-to-frame changes.
        sigma: f64,
        /// Episode of the first jump.
        first_episode: String,
        /// Frame (0-based, in `first_episode`) just after the first jump.
        first_frame: usize,
    },
    /// A joint channel whose |value| exceeds 3π: probably degrees declared as radians.
    LooksLikeDegrees {
        /// Joint channel name.
        channel: String,
        /// Largest absolute value.
        max_abs: f64,
    },
    /// Time steps longer than [`InspectConfig::gap_factor`] nominal periods.
    Gaps {
        /// Number of such steps over all episodes.
        count: usize,
        /// Longest step, seconds.
        largest_s: f64,
        /// Episode of the first gap.
        first_episode: String,
        /// Frame (0-based, in `first_episode`) just after the first gap.
        first_frame: usize,
    },
}

/// Inspects `dataset`: timing, channel statistics, channel kinds, commands and anomalies.
pub fn inspect(dataset: &Dataset, config: InspectConfig) -> Inspection {
    let meta = &dataset.meta;
    let names = meta.channels();
    let roles = meta.roles();
    let dim = dataset.dim();
    let period = 1.0 / meta.rate_hz;

    // O(frames): the median by selection, not by sorting all steps.
    let mut steps: Vec<f64> = dataset.episodes.iter().flat_map(|e| e.time.windows(2).map(|w| w[1] - w[0])).collect();
    let jitter = (!steps.is_empty()).then(|| {
        let mean = steps.iter().sum::<f64>() / steps.len() as f64;
        (steps.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / steps.len() as f64).sqrt() / period
    });
    let min_step = steps.iter().copied().reduce(f64::min);
    let max_step = steps.iter().copied().reduce(f64::max);
    let median = (!steps.is_empty()).then(|| {
        let mid = steps.len() / 2;
        *steps.select_nth_unstable_by(mid, f64::total_cmp).1
    });
    drop(steps);
    let mut gap_count = 0;
    let mut first_gap = None;
    let mut largest_gap = 0f64;
    for e in &dataset.episodes {
        for (i, w) in e.time.windows(2).enumerate() {
            let dt = w[1] - w[0];
            if dt > config.gap_factor * period {
                gap_count += 1;
                largest_gap = largest_gap.max(dt);
                first_gap.get_or_insert((e.name.clone(), i + 1));
            }
        }
    }
    let timing = Timing {
        measured_rate_hz: median.map(|m| 1.0 / m),
        jitter,
        min_step_s: min_step,
        max_step_s: max_step,
        gaps: gap_count,
    };

    let mut channels = Vec::with_capacity(dim);
    let mut anomalies = Vec::new();
    for c in 0..dim {
        let (mut min, mut max, mut sum, mut sum_sq, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0, 0usize);
        let (mut d_sum, mut d_sum_sq, mut d_n) = (0.0, 0.0, 0usize);
        for e in &dataset.episodes {
            let mut prev: Option<f64> = None;
            for v in e.channel(c).map(f64::from) {
                min = min.min(v);
                max = max.max(v);
                sum += v;
                sum_sq += v * v;
                n += 1;
                if let Some(p) = prev {
                    d_sum += v - p;
                    d_sum_sq += (v - p).powi(2);
                    d_n += 1;
                }
                prev = Some(v);
            }
        }
        let mean = sum / n.max(1) as f64;
        let std = (sum_sq / n.max(1) as f64 - mean * mean).max(0.0).sqrt();
        let d_mean = d_sum / d_n.max(1) as f64;
        let delta_std = (d_sum_sq / d_n.max(1) as f64 - d_mean * d_mean).max(0.0).sqrt();
        let role = roles[c];
        channels.push(ChannelSummary {
            name: names[c].clone(),
            role,
            min,
            max,
            mean,
            std,
            range_deg: (role == ChannelRole::Joint).then(|| (max - min).to_degrees()),
            delta_std,
        });
        if max - min == 0.0 {
            anomalies.push(Anomaly::ConstantChannel { channel: names[c].clone(), value: min });
            continue;
        }
        if role == ChannelRole::Joint && min.abs().max(max.abs()) > 3.0 * std::f64::consts::PI {
            anomalies.push(Anomaly::LooksLikeDegrees { channel: names[c].clone(), max_abs: min.abs().max(max.abs()) });
        }
        let threshold = config.jump_sigma * delta_std;
        let (mut count, mut largest, mut first) = (0, 0f64, None);
        for e in &dataset.episodes {
            let values: Vec<f32> = e.channel(c).collect();
            for (i, w) in values.windows(2).enumerate() {
                let d = (w[1] - w[0]).abs() as f64;
                if d > threshold && delta_std > 0.0 {
                    count += 1;
                    largest = largest.max(d);
                    first.get_or_insert((e.name.clone(), i + 1));
                }
            }
        }
        if let Some((first_episode, first_frame)) = first {
            anomalies.push(Anomaly::Jumps {
                channel: names[c].clone(),
                count,
                largest,
                sigma: largest / delta_std,
                first_episode,
                first_frame,
            });
        }
    }
    if let Some((first_episode, first_frame)) = first_gap {
        anomalies.push(Anomaly::Gaps { count: gap_count, largest_s: largest_gap, first_episode, first_frame });
    }
    let whole: Vec<Segment> = (0..dataset.episodes.len()).map(|e| Segment::whole(dataset, e)).collect();
    let commands = (0..meta.command_dim()).map(|i| command_summary(dataset, &whole, i)).collect();
    let kinds =
        channels::profiles(dataset, &whole).into_iter().enumerate().map(|(c, p)| kind_line(dataset, c, p)).collect();

    Inspection {
        name: meta.name.clone(),
        robot: meta.robot.clone(),
        episodes: dataset
            .episodes
            .iter()
            .map(|e| EpisodeSummary { name: e.name.clone(), frames: e.len(), duration_s: e.duration() })
            .collect(),
        frames: dataset.total_frames(),
        duration_s: dataset.episodes.iter().map(|e| e.duration()).sum(),
        nominal_rate_hz: meta.rate_hz,
        timing,
        channels,
        kinds,
        commands,
        anomalies,
        duplicate_frames: dataset.dropped_frames,
        warnings: dataset.warnings.clone(),
    }
}

fn command_summary(dataset: &Dataset, whole: &[Segment], i: usize) -> CommandSummary {
    let command = &dataset.meta.commands[i];
    let values: Vec<f64> =
        dataset.episodes.iter().flat_map(|e| (0..e.len()).map(move |t| e.command(t)[i] as f64)).collect();
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let target = dataset.meta.driven_channels()[i];
    let fit = target.and_then(|c| super::commands::fit_lag(dataset, whole, i, c));
    CommandSummary {
        name: command.name.clone(),
        drives: command.drives.clone(),
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        mean,
        std,
        lag_frames: fit.map(|f| f.lag),
        lag_s: fit.map(|f| f.lag as f64 / dataset.meta.rate_hz),
        correlation: fit.map(|f| f.correlation).filter(|c| c.is_finite()),
        tracking_rms: fit.map(|f| f.mse.sqrt()),
    }
}

fn kind_line(dataset: &Dataset, c: usize, p: ChannelProfile) -> ChannelKindLine {
    let still_episodes = dataset
        .episodes
        .iter()
        .filter(|e| {
            let mut values = e.channel(c);
            let first = values.next();
            values.all(|v| Some(v) == first)
        })
        .count();
    let looks_like_an_opening = p.role == ChannelRole::Joint
        && p.min >= 0.0
        && p.max <= 1.0
        && p.range() > 0.05
        && (p.levels.is_some() || p.resolution.is_some_and(|r| r >= 5e-4));
    ChannelKindLine {
        channel: p.name.clone(),
        kind: p.kind,
        treatment: Treatment::for_profile(&p, true),
        moving: p.moving,
        resolution: p.resolution,
        levels: p.levels,
        still_episodes,
        looks_like_an_opening,
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.digits$}"))
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "dataset {} (robot {}): {} episodes, {} frames, {:.1} s",
            self.name,
            self.robot,
            self.episodes.len(),
            self.frames,
            self.duration_s
        )?;
        for e in &self.episodes {
            writeln!(f, "  {:<24} {:>8} frames {:>9.2} s", e.name, e.frames, e.duration_s)?;
        }
        let t = &self.timing;
        writeln!(
            f,
            "rate: nominal {} Hz, measured {} Hz (median step); jitter {} of a period; steps {}..{} s; {} gap(s)",
            self.nominal_rate_hz,
            opt(t.measured_rate_hz, 2),
            opt(t.jitter, 4),
            opt(t.min_step_s, 5),
            opt(t.max_step_s, 5),
            t.gaps
        )?;
        writeln!(
            f,
            "\n{:<28} {:>9} {:>12} {:>12} {:>12} {:>12} {:>11} {:>12}",
            "channel", "role", "min", "max", "mean", "std", "range (°)", "std of Δ"
        )?;
        for c in &self.channels {
            writeln!(
                f,
                "{:<28} {:>9} {:>12.5} {:>12.5} {:>12.5} {:>12.5} {:>11} {:>12.3e}",
                c.name,
                format!("{:?}", c.role).to_lowercase(),
                c.min,
                c.max,
                c.mean,
                c.std,
                c.range_deg.map_or("".into(), |r| format!("{r:.1}")),
                c.delta_std
            )?;
        }
        writeln!(
            f,
            "\n{:<28} {:>12} {:>8} {:>12} {:>7} {:>6}  what training does (decided on the training part)",
            "channel", "kind", "moving", "resolution", "levels", "still"
        )?;
        for k in &self.kinds {
            writeln!(
                f,
                "{:<28} {:>12} {:>7.1}% {:>12} {:>7} {:>6}  {}{}",
                k.channel,
                k.kind.to_string(),
                k.moving * 100.0,
                k.resolution.map_or("n/a".into(), |r| format!("{r:.3e}")),
                k.levels.map_or("many".into(), |l| l.to_string()),
                k.still_episodes,
                k.treatment.describe(),
                if k.looks_like_an_opening {
                    "; its values lie in [0, 1] on a grid: an opening (hand, gripper) rather than an angle? \
                     (import it with --gripper to keep it out of the arm score)"
                } else {
                    ""
                }
            )?;
        }
        if !self.commands.is_empty() {
            let w = self.commands.iter().map(|c| c.name.len()).max().unwrap_or(0).max(7);
            let d = self.commands.iter().filter_map(|c| c.drives.as_ref().map(String::len)).max().unwrap_or(0).max(6);
            writeln!(
                f,
                "\n{:<w$} {:>d$} {:>12} {:>12} {:>12} {:>12} {:>8} {:>12}",
                "command", "drives", "min", "max", "std", "lag", "corr", "tracking RMS"
            )?;
            for c in &self.commands {
                writeln!(
                    f,
                    "{:<w$} {:>d$} {:>12.5} {:>12.5} {:>12.5} {:>12} {:>8} {:>12}",
                    c.name,
                    c.drives.as_deref().unwrap_or("-"),
                    c.min,
                    c.max,
                    c.std,
                    c.lag_frames.map_or("n/a".into(), |l| format!("{l} ({:.0} ms)", c.lag_s.unwrap_or(0.0) * 1e3)),
                    opt(c.correlation, 3),
                    c.tracking_rms.map_or("n/a".into(), |r| format!("{r:.3e}"))
                )?;
            }
        }
        if self.duplicate_frames > 0 {
            writeln!(
                f,
                "\n{} exact duplicate frame(s) (same timestamp and values as the frame before): the loader rejects them; \
                 re-import with `trajrnn import csv --drop-duplicates`",
                self.duplicate_frames
            )?;
        }
        if self.anomalies.is_empty() {
            writeln!(f, "\nno anomalies found")?;
        } else {
            writeln!(f, "\nanomalies:")?;
            for a in &self.anomalies {
                match a {
                    Anomaly::ConstantChannel { channel, value } => {
                        writeln!(f, "  {channel}: constant ({value}) in every frame")?
                    }
                    Anomaly::Jumps { channel, count, largest, sigma, first_episode, first_frame } => writeln!(
                        f,
                        "  {channel}: {count} jump(s) above the threshold, largest {largest:.4} ({sigma:.0}σ of its changes), \
                         first at {first_episode} frame {first_frame}"
                    )?,
                    Anomaly::LooksLikeDegrees { channel, max_abs } => writeln!(
                        f,
                        "  {channel}: |q| reaches {max_abs:.1}, which looks like degrees in a radian channel"
                    )?,
                    Anomaly::Gaps { count, largest_s, first_episode, first_frame } => writeln!(
                        f,
                        "  timing: {count} gap(s), largest {largest_s:.4} s, first at {first_episode} frame {first_frame}"
                    )?,
                }
            }
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}
