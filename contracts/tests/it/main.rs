//! Integration tests of the bindings against a real anvil chain and the real forge artifacts.

mod common;
mod dispute;
mod lifecycle;
mod nova;
