//! Integration tests: a real server on 127.0.0.1:0 driven over HTTP(S).

mod common;

mod auth;
mod bad_input;
mod gc;
mod push_pull;
mod tls;
