//! The logic of the runnable examples (`cargo run --example ...`), kept in a library so that
//! the test suite runs it too.

pub mod heap;
pub mod leak_demo;
pub mod local_server;
pub mod mock_openai;
pub mod openai_clients;
pub mod per_key_clients;
