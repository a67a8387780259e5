//! Starts the real binary against the test stack (see testkit::service_check).
signalops_testkit::service_lifecycle_tests!("notifier");
