//! Fuzzes the `sync_message` decoder of `mosaik::__fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = (mosaik::__fuzz::target("sync_message").decode)(data);
});
