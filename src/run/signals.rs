//! Ctrl-C (SIGINT) and SIGTERM (what Slurm, Kubernetes and systemd send before they kill a job)
//! stop a training run at the next step boundary, with `last.ckpt` written so that `--resume`
//! continues it bit for bit. A second Ctrl-C exits at once, as a user pressing it twice expects.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::error::{Error, Result};

/// Set when the process was asked to stop.
pub(crate) type StopFlag = Arc<AtomicBool>;

/// Installs the handlers (once per process is enough; each call returns a flag they set).
pub fn stop_on_signals() -> Result<StopFlag> {
    let flag = Arc::new(AtomicBool::new(false));
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        use signal_hook::flag;
        let failed = |e: std::io::Error| Error::Config(format!("cannot install the Ctrl-C / SIGTERM handler: {e}"));
        for signal in [SIGINT, SIGTERM] {
            // Exit at once on the second signal: the first one set the flag already.
            flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag)).map_err(failed)?;
            flag::register(signal, Arc::clone(&flag)).map_err(failed)?;
        }
    }
    Ok(flag)
}
