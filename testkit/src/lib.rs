//! Support for the tests and the benchmark: Amazon's DynamoDB Local, started once per process,
//! a meter that counts the DynamoDB requests a client makes and the capacity they consume, a
//! fake Lambda Runtime API, a fake Engage Digital answering at once, and start-up checks of the
//! function binaries.

pub mod dynamodb_local;
pub mod fake_engage;
pub mod lambda_runtime;
pub mod meter;
pub mod moto;
pub mod startup;
