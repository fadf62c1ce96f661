//! Integration tests of the runtime against a real anvil chain (one test binary).

mod db;
mod responder;
