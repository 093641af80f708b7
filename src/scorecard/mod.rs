//! Scorecard: a run's figures, thresholds and verdict. (Being built.)
