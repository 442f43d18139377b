//! mosaik.
