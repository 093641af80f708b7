//! Tap: one row per replayed request into `metrics.parquet`, plus histograms. (Being built.)
