//! `dystore`: plans, runs and verifies key rotations of dystore tables.
//! Each subcommand is a function over the library's `dystore::rotate`; this
//! crate holds only the command line, the keyring file and the terminal.

mod connect;
mod keys;
mod opt;
mod output;
mod rotate;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let opt = match opt::Opt::try_parse() {
        Ok(opt) => opt,
        Err(e) => return opt::refused(&e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return rotate::fail(opt::EXIT_FAILED, &anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    runtime.block_on(rotate::main(opt))
}
