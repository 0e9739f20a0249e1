//! `log.csv`: one line per optimiser step (and one per event such as a divergence rollback), so
//! a run can be plotted and audited. A resumed run first cuts the log back to the step it
//! resumes from, so the log of an interrupted and resumed run equals an uninterrupted one.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::train::StepRecord;

pub(crate) const HEADER: &str = "epoch,step,loss,grad_norm,grad_norm_clipped,lr,seconds,event";

pub(crate) struct StepLog {
    path: PathBuf,
    out: BufWriter<File>,
}

impl StepLog {
    /// Starts a fresh log at `path` (replacing an old one).
    pub(crate) fn create(path: &Path) -> Result<Self> {
        crate::io::write_atomic(path, |f| writeln!(f, "{HEADER}"))?;
        Self::append(path)
    }

    /// Continues the log at `path` after step `step`: later lines (written after the checkpoint
    /// that is being resumed) are dropped.
    pub(crate) fn resume(path: &Path, step: usize) -> Result<Self> {
        let kept: Vec<String> = match File::open(path) {
            Ok(f) => BufReader::new(f)
                .lines()
                .map_while(std::result::Result::ok)
                .skip(1)
                .filter(|line| line.split(',').nth(1).and_then(|s| s.parse::<usize>().ok()).is_some_and(|s| s <= step))
                .collect(),
            Err(_) => vec![],
        };
        crate::io::write_atomic(path, |f| {
            writeln!(f, "{HEADER}")?;
            for line in &kept {
                writeln!(f, "{line}")?;
            }
            Ok(())
        })?;
        Self::append(path)
    }

    fn append(path: &Path) -> Result<Self> {
        let file = OpenOptions::new().append(true).open(path).map_err(|e| Error::io(path, e))?;
        Ok(Self { path: path.to_path_buf(), out: BufWriter::new(file) })
    }

    pub(crate) fn step(&mut self, r: &StepRecord) -> Result<()> {
        writeln!(
            self.out,
            "{},{},{},{},{},{},{:.6},",
            r.epoch, r.step, r.loss, r.grad_norm, r.grad_norm_clipped, r.lr, r.seconds
        )
        .map_err(|e| Error::io(&self.path, e))
    }

    /// An event line (e.g. `rollback: ...`) at the given epoch and step.
    pub(crate) fn event(&mut self, epoch: usize, step: usize, lr: f64, text: &str) -> Result<()> {
        let text = text.replace([',', '\n'], ";");
        writeln!(self.out, "{epoch},{step},,,,{lr},,{text}").map_err(|e| Error::io(&self.path, e))
    }

    pub(crate) fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}
