//! langsmith-proxy: a local authenticating reverse proxy for the LangSmith API.
//!
//! The binary is a thin shell around this library: [`config::load`] turns flags, environment
//! and file into a [`config::Config`], [`App::from_config`] loads the key and builds the
//! upstream client, and [`serve`] runs the proxy on a listener until a shutdown future resolves.
#![forbid(unsafe_code)]

pub mod access_json;
pub mod admin;
pub mod app;
pub mod background;
pub mod check;
pub mod cli;
pub mod client;
pub mod config;
mod connection;
pub mod diagnosis;
pub mod doctor;
pub mod env;
pub mod health_probe;
pub mod key_check;
pub mod limit_counters;
pub mod listener;
pub mod log_sink;
pub mod metrics;
pub mod near_miss;
pub mod open_files;
pub mod proxy;
pub mod secret;
pub mod server;
pub mod service;
pub mod shell_env;
pub mod telemetry;
pub mod upstream;
pub mod workers;

pub use app::App;
pub use connection::MAX_REFUSING;
pub use listener::Listener;
pub use server::serve;
