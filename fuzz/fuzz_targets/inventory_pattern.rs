//! Fuzz target `inventory_pattern`: see `prov_fuzz::inventory_pattern`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| prov_fuzz::inventory_pattern(data));
