//! The preflight's parsers on arbitrary bytes: a VMDK (header, descriptor, tables, markers), an
//! OVF descriptor and a manifest. No input may panic, and every finding must display.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, &[u8])| {
    let (kind, bytes) = input;
    let name = ["disk.vmdk", "app.ovf", "app.mf"][usize::from(kind % 3)];
    for finding in cl_sdk::preflight::check_one(name, bytes) {
        let _ = finding.to_string();
    }
});
