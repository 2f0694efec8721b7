//! Support for the tests and the benchmark: Amazon's DynamoDB Local, started once per process,
//! and a meter that counts the DynamoDB requests a client makes and the capacity they consume.

pub mod dynamodb_local;
pub mod meter;
pub mod startup;
