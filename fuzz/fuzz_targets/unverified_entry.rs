//! Fuzzes the `unverified_entry` decoder of `mosaik::__fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = (mosaik::__fuzz::target("unverified_entry").decode)(data);
});
