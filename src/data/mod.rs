//! Trajectory data: the in-memory dataset and its checks, the folder format and importers,
//! per-channel profiles, content fingerprints, splits into three parts that never leak, and
//! windows.
//!
//! The flow is [`Dataset::load`] (or [`Dataset::new`] from an importer) →
//! [`split::split_dataset`] (train, validation and test, by episode or by time blocks with
//! gaps) → [`window::cut_windows`] (indices into episode storage, never copies).

pub mod channels;
pub(crate) mod commands;
pub mod csv_episode;
pub mod dataset;
pub mod fingerprint;
pub mod folder;
pub mod import;
pub mod inspect;
pub mod resample;
pub mod segment;
pub mod split;
pub mod window;

pub use dataset::RobotDescriptionRef;
pub use dataset::{ChannelRole, Dataset, DatasetMeta, DeclaredSplit, Episode};
pub use segment::Segment;
pub use split::{Part, Split, SplitConfig, SplitMode};
pub use window::Window;
pub use window::WindowSpec;
