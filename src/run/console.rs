//! Printing a run for a person: a progress bar with loss and ETA on a terminal, plain epoch lines
//! otherwise (logs, CI). An observer the command line and the example pass to a run; library
//! users who want silence pass [`super::quiet`].

use std::io::IsTerminal;
use std::ops::ControlFlow;

use indicatif::{ProgressBar, ProgressStyle};

use super::RunEvent;
use crate::train::{EpochStats, Event};

/// Prints a run's events.
pub struct Console {
    bar: Option<ProgressBar>,
    epochs: usize,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.digits$}"))
}

/// One line per epoch. Means over no step are `n/a` (never 0), and an epoch that diverged and
/// was redone says so.
pub fn epoch_line(s: &EpochStats, best: bool) -> String {
    let redone = if s.rollbacks > 0 { format!("  rolled back {}×", s.rollbacks) } else { String::new() };
    let score = if s.valid_score.is_finite() && s.valid_score.to_bits() != s.valid_loss.to_bits() {
        format!("  score {:.4}", s.valid_score)
    } else {
        String::new()
    };
    let valid = if s.valid_loss.is_finite() { format!("{:.5}", s.valid_loss) } else { "n/a".into() };
    format!(
        "epoch {:>3}  train {}  valid {valid}{score}{}  |grad| {}  clipped {:>4}  lr {:.2e}  {} steps  {:.1} s{redone}",
        s.epoch,
        opt(s.train_loss, 5),
        if best { " *" } else { "  " },
        opt(s.grad_norm, 3),
        s.clipped.map_or("n/a".into(), |c| format!("{:.0}%", c * 100.0)),
        s.lr,
        s.steps,
        s.seconds
    )
}

impl Console {
    /// A console for a run of at most `epochs` epochs.
    pub fn new(epochs: usize) -> Self {
        Self { bar: None, epochs }
    }

    fn clear_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Prints `event` (notes on stdout, warnings on stderr); never asks the run to stop.
    pub fn on_event(&mut self, event: RunEvent) -> ControlFlow<()> {
        match event {
            RunEvent::Note(text) => {
                self.clear_bar();
                println!("{text}");
            }
            RunEvent::Warning(text) => {
                self.clear_bar();
                eprintln!("warning: {text}");
            }
            RunEvent::Train(event) => self.on_train_event(event),
        }
        ControlFlow::Continue(())
    }

    fn on_train_event(&mut self, event: &Event) {
        match event {
            Event::Initial { score, .. } => println!("epoch   0  (untrained: its base rule)  score {score:.4} *"),
            Event::Step { record, batch, batches } => {
                if !std::io::stderr().is_terminal() {
                    return;
                }
                let bar = self.bar.get_or_insert_with(|| {
                    let bar = ProgressBar::new(*batches as u64);
                    bar.set_style(
                        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} loss {msg} ETA {eta}")
                            .expect("valid template")
                            .progress_chars("=> "),
                    );
                    bar
                });
                bar.set_prefix(format!("epoch {}/{}", record.epoch, self.epochs));
                bar.set_length(*batches as u64);
                bar.set_position(*batch as u64);
                bar.set_message(format!("{:.5}", record.loss));
            }
            Event::Epoch { stats, best, .. } => {
                self.clear_bar();
                println!("{}", epoch_line(stats, best.is_some()));
            }
            Event::Rollback { epoch, step, reason, lr_scale, .. } => {
                self.clear_bar();
                println!(
                    "divergence at epoch {epoch}, step {step}: {reason}; rolled back to the start of the epoch, \
                     learning rate now ×{lr_scale}"
                );
            }
            Event::EarlyStop { epoch, best_epoch } => {
                println!("early stop after epoch {epoch}: no improvement since epoch {best_epoch}");
            }
            Event::Interrupted { epoch, .. } => {
                self.clear_bar();
                println!(
                    "interrupted during epoch {epoch}: last.ckpt holds the run as it was at the start of that epoch"
                );
            }
        }
    }
}
