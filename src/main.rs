#![forbid(unsafe_code)]

use std::process::ExitCode;

/// See Cargo.toml: memory freed after a burst of password hashing goes back to the OS.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    sesame::cli::main()
}
