//! Enumeration through the real (private) PulseAudio server of the test bed.

// In tests a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use testbed::Service;

#[test]
fn lists_the_virtual_microphone_as_default() {
    if !testbed::require(Service::PulseAudio) {
        return;
    }
    let inputs = microphone::list_inputs().unwrap();
    let virtmic = inputs
        .iter()
        .find(|d| d.id.ends_with(":virtmic"))
        .unwrap_or_else(|| panic!("virtmic missing from {inputs:?}"));
    assert_eq!(virtmic.host, "PulseAudio");
    assert_eq!(virtmic.name, "virtmic");
    assert!(virtmic.is_default, "{inputs:?}");
    // The sink's monitor is an input too, but never the default.
    assert_eq!(inputs.iter().filter(|d| d.is_default).count(), 1);
}
