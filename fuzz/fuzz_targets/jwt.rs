//! Fuzzes the `jwt` decoder of `mosaik::__fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = (mosaik::__fuzz::target("jwt").decode)(data);
});
