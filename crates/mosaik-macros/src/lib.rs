//! Procedural macros of mosaik.
