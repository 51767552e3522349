//! Fuzz target `inventory_ini`: see `prov_fuzz::inventory_ini`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| prov_fuzz::inventory_ini(data));
