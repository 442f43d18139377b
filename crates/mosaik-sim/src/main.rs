//! Deterministic simulator for the mosaik consensus core.

fn main() {}
