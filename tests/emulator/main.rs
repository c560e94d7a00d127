//! The tests against real AWS APIs, in one binary sharing one moto server
//! (started on first use by `common::moto`, stopped with the process): the
//! DynamoDB store's contract, the handler and the function's binary end to
//! end, faults, floods, the redrive, the trail bucket, s3:// replay, and the
//! template. Without moto's venv they say so and pass, unless
//! `SIGNIN_WATCH_REQUIRE_EMULATOR` is set (`make test` sets it).

#[path = "../common/mod.rs"]
mod common;

mod asff;
mod dashboard;
mod dynamodb_store;
mod faults_moto;
mod flood_moto;
mod lambda_binary;
mod lambda_moto;
mod redrive_moto;
mod routes;
mod s3_replay;
mod security_hub;
mod template;
mod trail_bucket;
