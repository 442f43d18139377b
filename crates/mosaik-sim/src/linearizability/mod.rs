//! Linearizability checking.
