//! Fuzzes the `handshake_start` decoder of `mosaik::__fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = (mosaik::__fuzz::target("handshake_start").decode)(data);
});
