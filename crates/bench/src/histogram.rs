//! Latency histogram with bounded memory: log-linear microsecond buckets
//! (64 per power of two, so any percentile is within ~1.6 % of the truth),
//! mergeable across load-generator tasks. Storing every sample instead would
//! grow with the run length.

use std::time::Duration;

const SUB_BUCKETS: u64 = 64;
/// Powers of two covered: up to 2^27 µs ≈ 134 s, far above any timeout.
const POWERS: u64 = 28;

pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self { counts: vec![0; (SUB_BUCKETS * POWERS) as usize], total: 0 }
    }
}

fn bucket_of(micros: u64) -> usize {
    if micros < SUB_BUCKETS {
        return micros as usize;
    }
    let power = 63 - u64::from(micros.leading_zeros());
    let shift = power - SUB_BUCKETS.trailing_zeros() as u64;
    let sub = (micros >> shift) - SUB_BUCKETS;
    let index = (shift + 1) * SUB_BUCKETS + sub;
    index.min(SUB_BUCKETS * POWERS - 1) as usize
}

/// The upper bound of a bucket, in microseconds (the value reported).
fn upper_bound(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB_BUCKETS {
        return index;
    }
    let shift = index / SUB_BUCKETS - 1;
    let sub = index % SUB_BUCKETS;
    ((SUB_BUCKETS + sub + 1) << shift) - 1
}

impl Histogram {
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket_of(micros)] += 1;
        self.total += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
    }

    /// The latency at or below which `quantile` of the samples fall, in ms.
    pub fn quantile_ms(&self, quantile: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((self.total as f64) * quantile).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(upper_bound(index) as f64 / 1000.0);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_their_values_within_two_percent() {
        for micros in [0, 1, 63, 64, 65, 127, 128, 1_000, 12_345, 999_999, 60_000_000] {
            let bound = upper_bound(bucket_of(micros));
            assert!(bound >= micros, "{micros} -> {bound}");
            assert!((bound - micros) as f64 <= (micros as f64) * 0.02 + 1.0, "{micros} -> {bound}");
        }
    }

    #[test]
    fn quantiles_follow_the_samples() {
        let mut histogram = Histogram::default();
        for ms in 1..=100 {
            histogram.record(Duration::from_millis(ms));
        }
        let p50 = histogram.quantile_ms(0.5).unwrap_or_default();
        let p99 = histogram.quantile_ms(0.99).unwrap_or_default();
        assert!((50.0..51.0).contains(&p50), "{p50}");
        assert!((99.0..101.0).contains(&p99), "{p99}");
    }
}
