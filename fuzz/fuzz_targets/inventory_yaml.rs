//! Fuzz target `inventory_yaml`: see `prov_fuzz::inventory_yaml`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| prov_fuzz::inventory_yaml(data));
