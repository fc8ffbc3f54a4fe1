//! The `spin-local` binary: see [`spin_local::cli`].

fn main() -> std::process::ExitCode {
    match spin_local::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spin-local: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
