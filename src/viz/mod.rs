//! Rerun recordings: the arm from forward kinematics (observed and predicted, with end-effector
//! trails), per-joint time series and the model's hidden state, on a `frame` timeline, with the
//! project's layout active from the first frame. Output goes to an .rrd file (written
//! atomically), a spawned viewer, or a running viewer; the logging functions take any
//! [`RecordingStream`], so a user can log into a recording of their own.

mod arm;
mod blueprint;
pub(crate) mod paths;
mod playback;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use rerun::{RecordingStream, RecordingStreamBuilder};

pub(crate) use arm::{ArmGeometry, ArmStyle, log_arm};
pub use blueprint::Layout;
pub(crate) use blueprint::playback_layout;
pub(crate) use playback::log_playback;
pub use playback::{CommandTrack, Playback};

use crate::error::{Error, Result};

/// How long a spawned or connected viewer gets to receive the recording.
const VIEWER_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a recording goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Sink {
    /// An .rrd file, written to a temporary name and renamed when complete.
    File(PathBuf),
    /// A new viewer process (`rerun` on PATH).
    Spawn,
    /// A running viewer, e.g. `rerun+http://127.0.0.1:9876/proxy`.
    Connect(String),
}

/// The default address of a running viewer.
pub const DEFAULT_VIEWER_URL: &str = "rerun+http://127.0.0.1:9876/proxy";

impl Sink {
    /// Checks up front that the sink can work, so a long run does not fail at its last step:
    /// a file's folder must be writable, a viewer must be listening at a `Connect` address, and
    /// `rerun` must be on PATH to `Spawn`.
    pub fn check(&self) -> Result<()> {
        match self {
            Sink::File(path) => crate::io::check_writable(path),
            Sink::Connect(url) => check_viewer_listening(url),
            Sink::Spawn => {
                let found = std::env::var_os("PATH")
                    .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("rerun").is_file()));
                if found {
                    Ok(())
                } else {
                    Err(Error::Viz(
                        "--spawn needs the Rerun viewer (`rerun`, version 0.36.3) on PATH: \
                         pip install rerun-sdk==0.36.3, or write a file and open it later"
                            .into(),
                    ))
                }
            }
        }
    }
}

/// An open recording: log into [`stream`](Self::stream), then [`finish`](Self::finish) it.
pub struct Recording {
    stream: RecordingStream,
    sink: Sink,
    /// What a file sink holds until it is written. The recording is kept in memory and written
    /// by us, atomically, rather than by Rerun's file writer: that writer's thread dies on a
    /// write error (a full disk) and can leave `flush` waiting forever (measured: Rerun 0.36.3
    /// hung on a 368–384 KiB tmpfs); our recordings are megabytes.
    memory: Option<rerun::sink::MemorySinkStorage>,
}

impl Recording {
    /// Opens a recording for `sink` with `layout` (a [`Layout`] or a plain
    /// [`Blueprint`](rerun::blueprint::Blueprint)) as its active layout: a fresh viewer opens on
    /// it, not on its automatic grid.
    pub fn open(app_id: &'static str, sink: &Sink, layout: impl Into<Layout>) -> Result<Self> {
        sink.check()?;
        let (blueprint, activation) = layout.into().messages(app_id)?;
        let builder = RecordingStreamBuilder::new(app_id);
        let viz = |e: &dyn std::fmt::Display| Error::Viz(e.to_string());
        let (stream, memory) = match sink {
            Sink::File(_) => {
                let (stream, memory) = builder.memory().map_err(|e| viz(&e))?;
                (stream, Some(memory))
            }
            Sink::Spawn => (builder.spawn().map_err(|e| viz(&e))?, None),
            Sink::Connect(url) => (builder.connect_grpc_opts(url.clone()).map_err(|e| viz(&e))?, None),
        };
        // First in the stream, as `RecordingStreamBuilder::with_blueprint` sends it.
        stream.send_blueprint(blueprint, activation);
        Ok(Self { stream, sink: sink.clone(), memory })
    }

    /// The stream to log into.
    pub fn stream(&self) -> &RecordingStream {
        &self.stream
    }

    /// Flushes the recording; a file is renamed into place only when complete. Returns the path
    /// of a finished file.
    pub fn finish(self, logged: Result<()>) -> Result<Option<PathBuf>> {
        let Self { stream, sink, memory } = self;
        match (sink, memory) {
            (Sink::File(path), Some(memory)) => {
                logged?;
                let bytes = memory.drain_as_bytes().map_err(|e| Error::Viz(e.to_string()))?;
                drop(stream);
                crate::io::write_atomic(&path, |f| f.write_all(&bytes))?;
                Ok(Some(path))
            }
            // A viewer that goes away must not hang the run: network sinks get a deadline.
            _ => {
                let flushed = logged.and_then(|_| {
                    stream.flush_with_timeout(VIEWER_TIMEOUT).map_err(|e| {
                        Error::Viz(format!(
                            "could not deliver the recording to the viewer within {} s ({e}); is a viewer running there?",
                            VIEWER_TIMEOUT.as_secs()
                        ))
                    })
                });
                drop(stream);
                flushed.map(|_| None)
            }
        }
    }
}

/// Records `playback` to `sink` with the playback layout. For a file sink, returns the path of
/// the finished .rrd.
pub fn record(sink: &Sink, playback: &Playback) -> Result<Option<PathBuf>> {
    let recording = Recording::open(playback.app_id, sink, playback_layout(playback))?;
    let logged = log_playback(recording.stream(), playback);
    recording.finish(logged)
}

/// Plays free-running rollouts of `segment` of an applied checkpoint's data to `sink`
/// (see [`Applied::rollouts`](crate::run::Applied::rollouts) for `horizon`, `warmup` and
/// `plan`). Returns the path of a finished file.
pub fn record_rollouts(
    applied: &crate::run::Applied,
    segment: &crate::data::Segment,
    horizon: usize,
    warmup: Option<usize>,
    plan: Option<&[f32]>,
    sink: &Sink,
    device: &burn::prelude::Device,
) -> Result<Option<PathBuf>> {
    let rollouts = applied.rollouts(segment, horizon, warmup, plan, device)?;
    play_rollouts(applied, &rollouts, sink)
}

/// Plays rollouts already made ([`Applied::rollouts`](crate::run::Applied::rollouts)) to `sink`.
pub fn play_rollouts(
    applied: &crate::run::Applied,
    rollouts: &crate::run::Rollouts,
    sink: &Sink,
) -> Result<Option<PathBuf>> {
    let episode = &applied.dataset.episodes[rollouts.shown.episode];
    let summary = crate::run::summary_markdown(&applied.meta, None, &episode.name, rollouts.what);
    let mut playback = Playback {
        prediction: Some(&rollouts.track),
        ..Playback::of_segment(
            "trajrnn_rollout",
            &applied.dataset,
            &rollouts.shown,
            applied.kinematics.as_ref(),
            &summary,
        )
    };
    if let (Some(values), Some(commands)) = (&rollouts.commands_shown, playback.commands.as_mut()) {
        commands.values = values;
    }
    record(sink, &playback)
}

/// Plays a dataset's episode (no model) to `sink`: the arm, every channel, the commands and the
/// phases where the data has them. Returns the path of a finished file.
pub fn record_episode(
    dataset: &crate::data::Dataset,
    episode: usize,
    kinematics: Option<&crate::kinematics::Kinematics>,
    sink: &Sink,
) -> Result<Option<PathBuf>> {
    let segment = crate::data::Segment::whole(dataset, episode);
    let e = &dataset.episodes[episode];
    let meta = &dataset.meta;
    let summary = format!(
        "**{}** — episode {} of {} ({} frames at {} Hz, {:.1} s)\n\n{} state channels{}{}",
        meta.name,
        e.name,
        dataset.episodes.len(),
        e.len(),
        meta.rate_hz,
        e.duration(),
        meta.dim(),
        if meta.command_dim() > 0 { format!(", {} command channels", meta.command_dim()) } else { String::new() },
        if meta.phases.is_empty() { String::new() } else { format!(", phases: {}", meta.phases.join(", ")) },
    );
    record(sink, &Playback::of_segment("trajrnn_dataset", dataset, &segment, kinematics, &summary))
}

/// Fails fast, with the address in the message, when nothing listens at a viewer URL such as
/// `rerun+http://127.0.0.1:9876/proxy` (the SDK itself would keep retrying in the background).
fn check_viewer_listening(url: &str) -> Result<()> {
    use std::net::{TcpStream, ToSocketAddrs};
    let authority = url.split("://").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or_default();
    let unreachable =
        |why: String| Error::Viz(format!("no Rerun viewer reachable at {url}: {why} (start one with `rerun`)"));
    let addrs: Vec<_> = authority.to_socket_addrs().map_err(|e| unreachable(e.to_string()))?.collect();
    let mut last = String::from("address resolves to nothing");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(unreachable(last))
}
