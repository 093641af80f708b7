//! Replay: the open-model schedule and dispatcher. (Being built.)
