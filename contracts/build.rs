//! Compiles the Solidity sources with forge (from the project's `.tools`, installed by
//! `scripts/setup.sh`) so that `sol!` can read the artifacts in `out/`.

use std::{env, path::PathBuf, process::Command};

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    for watched in ["sol", "test", "script", "foundry.toml"] {
        println!("cargo:rerun-if-changed={}", dir.join(watched).display());
    }
    let forge = env::var_os("VERDICT_FORGE").map(PathBuf::from).unwrap_or_else(|| dir.join("../.tools/bin/forge"));
    if !forge.exists() {
        panic!(
            "forge not found at {}: run scripts/setup.sh first (it installs the pinned toolchain into .tools)",
            forge.display()
        );
    }
    // The default profile: artifacts do not depend on fuzz settings, and CI's FOUNDRY_PROFILE
    // must not make cargo rebuild.
    let status = Command::new(&forge)
        .arg("build")
        .current_dir(&dir)
        .env("FOUNDRY_PROFILE", "default")
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", forge.display()));
    if !status.success() {
        panic!("forge build failed in {}", dir.display());
    }
}
