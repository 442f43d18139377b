//! The mosaik command-line tool.
fn main() {}
