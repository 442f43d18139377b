//! Compile-compatibility with mosaik 0.3.x: every public entry point used
//! the way the original's documentation and examples use it (single and
//! iterator arguments, references, `usize` lengths, integer reach targets,
//! derive-only state machines, `Short` displays, ticket constructors).
//!
//! Most of this target only has to compile: a future shape break fails CI
//! here. `live.rs` runs a small part over loopback (relays off).

mod live;
mod shapes;
