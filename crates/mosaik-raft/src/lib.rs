//! The sans-IO consensus core of mosaik.
