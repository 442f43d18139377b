//! One chart axis: its scale, the interval it shows (fitted to the data),
//! where values land on it, and its ticks with their labels.

/// How values are spaced along an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Evenly; the interval starts at zero (rates and times are compared
    /// against nothing, so a truncated axis would exaggerate differences).
    Linear,
    /// By powers of two (client counts, message sizes, node counts: the
    /// benchmarks double them).
    Log2,
    /// By powers of ten (throughputs that span decades across sizes).
    Log10,
}

/// One tick: where its grid line goes and, when there is room, its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// The value at the tick.
    pub value: f64,
    /// Its label, `None` for an unlabelled grid line.
    pub label: Option<String>,
}

/// An axis fitted to data: `lo..hi` in the scale's units (the value, or
/// its logarithm for log scales).
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    scale: Scale,
    lo: f64,
    hi: f64,
    /// Linear scales: the distance between ticks.
    step: f64,
    /// Log2 scales: the data's x values, labelled instead of the powers of
    /// two when few and far enough apart (the bench's sweeps, such as 5,
    /// 10, 20, 40 nodes, are not all powers of two).
    marks: Vec<f64>,
}

/// At most this many labelled ticks, so labels never run into each other.
const MAX_LABELS: usize = 9;

impl Axis {
    /// An axis of `scale` showing all of `values` (values a log scale
    /// cannot show, zero or below, are left out by the caller).
    pub fn fit(scale: Scale, values: &[f64]) -> Self {
        let finite = || values.iter().copied().filter(|v| v.is_finite());
        let min = finite().fold(f64::INFINITY, f64::min);
        let max = finite().fold(f64::NEG_INFINITY, f64::max);
        let (min, max) = if min.is_finite() {
            (min, max)
        } else {
            (1.0, 1.0)
        };
        match scale {
            Scale::Linear => {
                // Headroom above the highest point so it does not sit on
                // the frame; the top then snaps up to a whole step.
                let top = if max > 0.0 { max * 1.05 } else { 1.0 };
                let lo = min.min(0.0);
                let step = nice_step((top - lo) / 5.0);
                Self {
                    scale,
                    lo: (lo / step).floor() * step,
                    hi: (top / step).ceil() * step,
                    step,
                    marks: Vec::new(),
                }
            }
            Scale::Log2 => {
                // A margin of a quarter octave or 5 % keeps the extreme
                // points (and their markers) off the frame.
                let (mut a, mut b) = (min.log2(), max.log2());
                // At least two octaves, so two powers of two get ticks.
                if b - a < 2.0 {
                    let mid = f64::midpoint(a, b);
                    (a, b) = (mid - 1.0, mid + 1.0);
                }
                let pad = ((b - a) * 0.05).max(0.25);
                let (lo, hi) = (a - pad, b + pad);
                let mut marks: Vec<f64> = finite().filter(|v| *v > 0.0).collect();
                marks.sort_by(f64::total_cmp);
                marks.dedup();
                let apart = marks
                    .windows(2)
                    .all(|w| w[1].log2() - w[0].log2() >= (hi - lo) / (2.0 * MAX_LABELS as f64));
                if marks.len() > MAX_LABELS || !apart {
                    marks.clear();
                }
                Self {
                    scale,
                    lo,
                    hi,
                    step: 1.0,
                    marks,
                }
            }
            Scale::Log10 => {
                let (a, b) = (min.log10().floor(), max.log10().ceil());
                Self {
                    scale,
                    lo: a,
                    hi: if b > a { b } else { a + 1.0 },
                    step: 1.0,
                    marks: Vec::new(),
                }
            }
        }
    }

    /// Where `v` lies along the axis, 0 at the low end and 1 at the high
    /// end; `None` when the scale cannot show it.
    pub fn fraction(&self, v: f64) -> Option<f64> {
        let u = match self.scale {
            Scale::Linear => v,
            Scale::Log2 if v > 0.0 => v.log2(),
            Scale::Log10 if v > 0.0 => v.log10(),
            Scale::Log2 | Scale::Log10 => return None,
        };
        u.is_finite().then(|| (u - self.lo) / (self.hi - self.lo))
    }

    /// The ticks within the interval, low to high.
    pub fn ticks(&self) -> Vec<Tick> {
        match self.scale {
            Scale::Linear => {
                let steps = ((self.hi - self.lo) / self.step).round();
                (0..=whole(steps))
                    .map(|i| {
                        let value = self.lo + f64::from(i) * self.step;
                        Tick {
                            value,
                            label: Some(decimal_label(value, self.step)),
                        }
                    })
                    .collect()
            }
            Scale::Log2 => {
                let powers = (whole(self.lo.ceil())..=whole(self.hi.floor())).map(|p| 2f64.powi(p));
                if !self.marks.is_empty() {
                    // The data's x values labelled, powers of two as bare
                    // grid lines between them.
                    let mut ticks: Vec<Tick> = powers
                        .filter(|p| !self.marks.contains(p))
                        .map(|value| Tick { value, label: None })
                        .chain(self.marks.iter().map(|&value| Tick {
                            value,
                            label: Some(count_label(value)),
                        }))
                        .collect();
                    ticks.sort_by(|a, b| a.value.total_cmp(&b.value));
                    return ticks;
                }
                let powers: Vec<f64> = powers.collect();
                // Label every n-th power (anchored at the first) when there
                // are too many to label all.
                let every = powers.len().div_ceil(MAX_LABELS).max(1);
                (0..)
                    .zip(powers)
                    .map(|(i, value)| Tick {
                        value,
                        label: (i % every == 0).then(|| count_label(value)),
                    })
                    .collect()
            }
            Scale::Log10 => {
                let decades = whole(self.hi - self.lo);
                // Over few decades 2x and 5x ticks are labelled too; over
                // many, 2x..9x are bare grid lines.
                let labelled: &[f64] = if decades <= 3 {
                    &[1.0, 2.0, 5.0]
                } else {
                    &[1.0]
                };
                let mut ticks = Vec::new();
                for p in whole(self.lo)..=whole(self.hi) {
                    let base = 10f64.powi(p);
                    for m in 1..10 {
                        let value = base * f64::from(m);
                        if value.log10() > self.hi + 1e-9 {
                            break;
                        }
                        let label = labelled
                            .contains(&f64::from(m))
                            .then(|| decimal_label(value, value));
                        ticks.push(Tick { value, label });
                    }
                }
                ticks
            }
        }
    }
}

/// `v` (a whole number within `i32`, as the tick arithmetic produces) as
/// an integer.
#[allow(clippy::cast_possible_truncation)]
fn whole(v: f64) -> i32 {
    v.round() as i32
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let base = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * base)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * base)
}

/// A decimal tick label: `k`/`M` for round thousands/millions from ten
/// thousand up, otherwise as many decimals as the `step` needs.
fn decimal_label(v: f64, step: f64) -> String {
    let a = v.abs();
    if a < step * 1e-9 {
        // Not "0.0" (or "-0") when the steps are fractional.
        "0".to_owned()
    } else if a >= 1e6 && (v / 1e6).fract() == 0.0 {
        format!("{}M", v / 1e6)
    } else if a >= 1e4 && (v / 1e3).fract() == 0.0 {
        format!("{}k", v / 1e3)
    } else {
        let decimals = if step >= 1.0 {
            0
        } else {
            usize::try_from(-whole(step.log10().floor())).unwrap_or(0)
        };
        format!("{v:.decimals$}")
    }
}

/// A count tick label (clients, bytes, nodes): `K`/`M` for multiples of
/// 1024 and 1024^2, as the sizes are powers of two in bytes.
fn count_label(v: f64) -> String {
    const KI: f64 = 1024.0;
    if v >= KI * KI && (v / (KI * KI)).fract() == 0.0 {
        format!("{}M", v / (KI * KI))
    } else if v >= KI && (v / KI).fract() == 0.0 {
        format!("{}K", v / KI)
    } else if v.fract() == 0.0 {
        format!("{v}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(axis: &Axis) -> Vec<String> {
        axis.ticks().into_iter().filter_map(|t| t.label).collect()
    }

    #[test]
    fn linear_starts_at_zero_with_round_ticks() {
        let axis = Axis::fit(Scale::Linear, &[1768.0, 8252.0]);
        assert_eq!(labels(&axis), ["0", "2000", "4000", "6000", "8000", "10k"]);
        assert_eq!(axis.fraction(0.0), Some(0.0));
        let top = axis.fraction(8252.0).expect("shown");
        assert!(top > 0.8 && top < 1.0, "{top}");
        let small = Axis::fit(Scale::Linear, &[0.12, 0.31]);
        assert_eq!(labels(&small), ["0", "0.1", "0.2", "0.3", "0.4"]);
    }

    #[test]
    fn log2_ticks_are_powers_of_two_and_thinned() {
        let many: Vec<f64> = (0..12).map(|p| 2f64.powi(p)).collect();
        let axis = Axis::fit(Scale::Log2, &many);
        assert_eq!(labels(&axis), ["1", "4", "16", "64", "256", "1K"]);
        assert_eq!(axis.ticks().len(), 12);
        let (a, b) = (
            axis.fraction(1.0).expect("1"),
            axis.fraction(2048.0).expect("2K"),
        );
        assert!(a > 0.0 && b < 1.0 && a < b);
        assert_eq!(axis.fraction(0.0), None);
        let sizes: Vec<f64> = (4..=20).map(|p| 2f64.powi(p)).collect();
        let shown = labels(&Axis::fit(Scale::Log2, &sizes));
        assert!(shown.len() <= MAX_LABELS, "{shown:?}");
        assert_eq!(shown.first().map(String::as_str), Some("16"));
        assert!(shown.contains(&"1M".to_owned()), "{shown:?}");
    }

    /// A few x values are labelled themselves, powers of two in between
    /// are bare grid lines.
    #[test]
    fn log2_labels_the_data_values_when_few() {
        let axis = Axis::fit(Scale::Log2, &[1.0, 8.0, 64.0, 256.0, 8.0]);
        assert_eq!(labels(&axis), ["1", "8", "64", "256"]);
        assert_eq!(axis.ticks().len(), 9);
        let nodes = Axis::fit(Scale::Log2, &[5.0, 10.0, 20.0, 40.0]);
        assert_eq!(labels(&nodes), ["5", "10", "20", "40"]);
        let sizes = Axis::fit(Scale::Log2, &[64.0, 1024.0, 65536.0, 1_048_576.0]);
        assert_eq!(labels(&sizes), ["64", "1K", "64K", "1M"]);
        // Too close together to label both: back to powers of two.
        let close = Axis::fit(Scale::Log2, &[1.0, 1.01, 4096.0]);
        assert!(!labels(&close).contains(&"1.01".to_owned()));
    }

    #[test]
    fn log10_spans_whole_decades() {
        let axis = Axis::fit(Scale::Log10, &[14.7, 830.0]);
        let near = |v: f64, want: f64| (axis.fraction(v).expect("shown") - want).abs() < 1e-9;
        assert!(near(10.0, 0.0) && near(1000.0, 1.0));
        assert_eq!(
            labels(&axis),
            ["10", "20", "50", "100", "200", "500", "1000"]
        );
        let wide = Axis::fit(Scale::Log10, &[0.5, 200_000.0]);
        assert_eq!(
            labels(&wide),
            ["0.1", "1", "10", "100", "1000", "10k", "100k", "1M"]
        );
    }

    #[test]
    fn one_point_still_has_an_interval() {
        for scale in [Scale::Linear, Scale::Log2, Scale::Log10] {
            let axis = Axis::fit(scale, &[5.0]);
            let f = axis.fraction(5.0).expect("shown");
            assert!((0.0..=1.0).contains(&f), "{scale:?}: {f}");
            assert!(axis.ticks().len() >= 2, "{scale:?}");
        }
    }
}
