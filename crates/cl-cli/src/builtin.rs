//! The built-in simulator behind `clx demo` (without `--url`) and `clx sim`. It is linked only
//! with the `sim` feature (on by default): without it `clx` is a client alone, with no server
//! crates in its tree, and both commands say how to get the simulator back.

use crate::output::Failure;

/// The arguments of `clx sim`.
#[cfg(feature = "sim")]
pub type SimArgs = cl_sim::serve::ServeArgs;

/// The arguments of `clx sim` in a build without the simulator: taken and ignored, so the
/// command can say what is missing instead of failing on an unknown flag.
#[cfg(not(feature = "sim"))]
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    _ignored: Vec<String>,
}

/// A running embedded simulator.
#[cfg(feature = "sim")]
pub type Simulator = cl_sim::Simulator;

/// Never made in a build without the simulator.
#[cfg(not(feature = "sim"))]
pub enum Simulator {}

#[cfg(not(feature = "sim"))]
pub const MISSING: &str = "this clx was built without the built-in simulator (the `sim` feature); \
                       rebuild with it (`cargo install cl-cli`, default features) or point --url at a vCenter";

/// Serves the simulator in the foreground (`clx sim`).
pub async fn serve(args: SimArgs) -> Result<(), Failure> {
    #[cfg(feature = "sim")]
    {
        cl_sim::serve::serve(args).await.map_err(|e| crate::output::fail(format!("the simulator failed: {e}")))
    }
    #[cfg(not(feature = "sim"))]
    {
        let _ = args;
        Err(crate::output::usage(MISSING))
    }
}
