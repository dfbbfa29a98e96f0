//! Shared helpers for opsdeck's integration tests: the real test bed (`scripts/testbed up`),
//! the real binary, and cleanup of what a test creates (everything is named `opsdeck-test-...`).
//!
//! A library of its own (a dev-dependency of opsdeck), so that each test crate links what it
//! uses instead of compiling a copy of every helper; a test names it as before with
//! `use opsdeck_testkit as common;`.

pub mod cleanup;
pub mod docker;
pub mod net;
pub mod pg;
pub mod s3;
pub mod sandbox;
pub mod ssh;
pub mod stack;
pub mod testbed;
pub mod traefik;
pub mod wait;

// The everyday helpers at the root, where the tests have always found them (`common::docker`,
// `common::Sandbox`, ...).
pub use cleanup::{unique, ComposeGuard, ContainerGuard};
pub use docker::{compose, docker, require_docker};
pub use net::{free_port, http_get};
pub use sandbox::{chmod, chown, outcome, Sandbox};
pub use testbed::testbed_var;
pub use wait::wait_for;
