//! Fuzz target `template`: see `prov_fuzz::template`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| prov_fuzz::template(data));
