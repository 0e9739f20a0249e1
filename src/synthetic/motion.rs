//! Minimum-jerk motion of the end effector: a chain of segments, each from the previous pose to
//! its target in a given time, sampled at a fixed rate. Position follows the minimum-jerk
//! profile along a straight line and orientation the same profile along the shortest rotation,
//! so every segment starts and ends at rest (zero velocity and acceleration), as in Flash and
//! Hogan's model of point-to-point reaching.

use nalgebra::{Isometry3, Translation3};

/// Share of the way travelled at normalised time `s` ∈ [0, 1]: `10s³ − 15s⁴ + 6s⁵`.
pub(crate) fn min_jerk(s: f64) -> f64 {
    let s = s.clamp(0.0, 1.0);
    s * s * s * (10.0 + s * (-15.0 + 6.0 * s))
}

/// Where the hand is and how far the fingers are open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Waypoint {
    /// Pose of the end-effector site in the world frame (m).
    pub(crate) pose: Isometry3<f64>,
    /// Opening of each finger (m).
    pub(crate) grip: f64,
}

/// A move to `to` in `duration` seconds, labelled `phase`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Segment {
    /// Phase label of the frames in this segment (an index into [`PHASES`](super::PHASES)).
    pub(crate) phase: u16,
    /// Time the move takes, s (positive).
    pub(crate) duration: f64,
    /// Where the hand and fingers are at the end of the move.
    pub(crate) to: Waypoint,
}

/// One sampled frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// Seconds from the start of the motion.
    pub(crate) time: f64,
    /// Phase label of the segment the frame falls in.
    pub(crate) phase: u16,
    /// Hand pose and finger opening at that time.
    pub(crate) at: Waypoint,
}

/// Samples the motion from `start` through `segments` at `rate_hz`, from t = 0 to the end of
/// the last segment. A frame on a boundary belongs to the segment that starts there.
pub(crate) fn sample(start: Waypoint, segments: &[Segment], rate_hz: f64) -> Vec<Sample> {
    let total: f64 = segments.iter().map(|s| s.duration).sum();
    let frames = (total * rate_hz).floor() as usize + 1;
    let mut out = Vec::with_capacity(frames);
    let (mut seg, mut seg_start, mut from) = (0, 0.0, start);
    for k in 0..frames {
        let t = k as f64 / rate_hz;
        while seg + 1 < segments.len() && t >= seg_start + segments[seg].duration {
            seg_start += segments[seg].duration;
            from = segments[seg].to;
            seg += 1;
        }
        let s = &segments[seg];
        let a = min_jerk((t - seg_start) / s.duration);
        let position = from.pose.translation.vector.lerp(&s.to.pose.translation.vector, a);
        let rotation = from.pose.rotation.slerp(&s.to.pose.rotation, a);
        out.push(Sample {
            time: t,
            phase: s.phase,
            at: Waypoint {
                pose: Isometry3::from_parts(Translation3::from(position), rotation),
                grip: from.grip + (s.to.grip - from.grip) * a,
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_jerk_starts_and_ends_at_rest() {
        let h = 1e-4;
        let v = |s: f64| (min_jerk(s + h) - min_jerk(s - h)) / (2.0 * h);
        let a = |s: f64| (min_jerk(s + h) - 2.0 * min_jerk(s) + min_jerk(s - h)) / (h * h);
        assert_eq!((min_jerk(0.0), min_jerk(1.0)), (0.0, 1.0));
        assert!((min_jerk(0.5) - 0.5).abs() < 1e-12);
        // Peak velocity of the profile is 15/8 at mid-time; none at the ends.
        assert!((v(0.5) - 1.875).abs() < 1e-6);
        for s in [h, 1.0 - h] {
            assert!(v(s).abs() < 1e-6 && a(s).abs() < 1e-2, "v {} a {}", v(s), a(s));
        }
    }

    #[test]
    fn sampling_labels_frames_and_reaches_every_target() {
        let p = |x: f64| Waypoint { pose: Isometry3::translation(x, 0.0, 0.0), grip: x };
        let segs = [Segment { phase: 0, duration: 1.0, to: p(1.0) }, Segment { phase: 1, duration: 0.5, to: p(3.0) }];
        let s = sample(p(0.0), &segs, 10.0);
        assert_eq!(s.len(), 16);
        assert_eq!(s.iter().filter(|f| f.phase == 0).count(), 10);
        assert_eq!(s[10].at.pose.translation.x, 1.0, "the first frame of a segment is its start");
        assert!((s[15].at.pose.translation.x - 3.0).abs() < 1e-12 && (s[15].at.grip - 3.0).abs() < 1e-12);
    }
}
