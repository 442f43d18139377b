//! Fuzzes the `start_stream` decoder of `mosaik::__fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = (mosaik::__fuzz::target("start_stream").decode)(data);
});
