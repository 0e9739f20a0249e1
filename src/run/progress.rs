//! Console output of a training run: a progress bar with loss and ETA on a terminal, plain epoch
//! lines otherwise (logs, CI).

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

use crate::train::{EpochStats, Event};

pub struct ConsoleProgress {
    bar: Option<ProgressBar>,
    epochs: usize,
    /// Set from a Ctrl-C handler: stop after the current epoch (its checkpoints are written).
    stop: Arc<AtomicBool>,
    quiet: bool,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.digits$}"))
}

/// One line per epoch. Means over no step are `n/a` (never 0), and an epoch that diverged and
/// was redone says so.
pub fn epoch_line(s: &EpochStats, best: bool) -> String {
    let redone = if s.rollbacks > 0 { format!("  rolled back {}×", s.rollbacks) } else { String::new() };
    format!(
        "epoch {:>3}  train {}  valid {:.5}{}  |grad| {}  clipped {:>4}  lr {:.2e}  {} steps  {:.1} s{redone}",
        s.epoch,
        opt(s.train_loss, 5),
        s.valid_loss,
        if best { " *" } else { "  " },
        opt(s.grad_norm, 3),
        s.clipped.map_or("n/a".into(), |c| format!("{:.0}%", c * 100.0)),
        s.lr,
        s.steps,
        s.seconds
    )
}

impl ConsoleProgress {
    pub fn new(epochs: usize, stop: Arc<AtomicBool>, quiet: bool) -> Self {
        Self { bar: None, epochs, stop, quiet }
    }

    pub fn on_event(&mut self, event: Event) -> ControlFlow<()> {
        if self.quiet {
            let stop = matches!(event, Event::Epoch { .. }) && self.stop.load(Ordering::SeqCst);
            return if stop { ControlFlow::Break(()) } else { ControlFlow::Continue(()) };
        }
        match event {
            Event::Step { record, batch, batches } => {
                if !std::io::stderr().is_terminal() {
                    return ControlFlow::Continue(());
                }
                let bar = self.bar.get_or_insert_with(|| {
                    let bar = ProgressBar::new(batches as u64);
                    bar.set_style(
                        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} loss {msg} ETA {eta}")
                            .expect("valid template")
                            .progress_chars("=> "),
                    );
                    bar
                });
                bar.set_prefix(format!("epoch {}/{}", record.epoch, self.epochs));
                bar.set_length(batches as u64);
                bar.set_position(batch as u64);
                bar.set_message(format!("{:.5}", record.loss));
            }
            Event::Epoch { stats, best } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                println!("{}", epoch_line(stats, best));
                if self.stop.load(Ordering::SeqCst) {
                    println!("interrupted: stopping after epoch {} (resume with --resume)", stats.epoch);
                    return ControlFlow::Break(());
                }
            }
            Event::Rollback { epoch, step, reason, lr_scale } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                println!(
                    "divergence at epoch {epoch}, step {step}: {reason}; rolled back to the start of the epoch, \
                     learning rate now ×{lr_scale}"
                );
            }
            Event::EarlyStop { epoch, best_epoch } => {
                println!("early stop after epoch {epoch}: no improvement since epoch {best_epoch}");
            }
        }
        ControlFlow::Continue(())
    }
}
