//! Switchboard: a live-chat customer-support server. Visitors and operators talk through one
//! `Conversation` actor per conversation; every event is committed to PostgreSQL before anyone
//! is told it exists.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod actors;
pub mod auth;
pub mod automation;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod ids;
pub mod protocol;
pub mod retention;
pub mod server;
pub mod telegram;
pub mod telemetry;
pub mod ticket;
pub mod validate;
