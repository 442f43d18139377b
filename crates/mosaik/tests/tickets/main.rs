//! JWT ticket tests.
