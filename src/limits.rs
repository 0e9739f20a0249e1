//! The largest sizes an option, a file or a checkpoint may ask for: far beyond any real run,
//! small enough that a damaged header or a typo cannot make the library allocate terabytes or
//! overflow a product of a few counts. Every module checks against these; this module imports
//! nothing above the error type, so anything may use it.

use crate::error::{Error, Result};

/// Largest count (frames, epochs, steps) an option may give.
pub(crate) const MAX_COUNT: usize = 1 << 32;
/// Largest hidden size (units per layer).
pub const MAX_HIDDEN: usize = 1 << 14;
/// Largest number of stacked layers.
pub const MAX_LAYERS: usize = 64;
/// Largest input or output width of a model (`input_dim`, `output_dim`).
pub(crate) const MAX_FEATURES: usize = 1 << 14;

/// Checks that a count option is in `min..=MAX_COUNT`; the error names `option`.
pub(crate) fn check_count(option: &str, value: usize, min: usize) -> Result<()> {
    if (min..=MAX_COUNT).contains(&value) {
        Ok(())
    } else {
        Err(Error::option(option, format!("must be in {min}..={MAX_COUNT}, got {value}")))
    }
}

/// Checks that a number option is finite and in `[min, max]` (or `(min, max)` where `open`).
pub(crate) fn check_range(option: &str, value: f64, min: f64, max: f64, open: bool) -> Result<()> {
    let inside = value.is_finite() && if open { value > min && value < max } else { value >= min && value <= max };
    if inside {
        Ok(())
    } else {
        let (l, r) = if open { ("(", ")") } else { ("[", "]") };
        Err(Error::option(option, format!("must be in {l}{min}, {max}{r}, got {value}")))
    }
}
