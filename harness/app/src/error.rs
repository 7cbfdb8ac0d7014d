//! The one error type of the drivers. The CLI maps each kind to its exit code.

/// Why a job could not be done.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input is wrong (flags, a scenario file, an unknown name): the same on every
    /// attempt until the user changes it. Exit code 64.
    #[error("{0}")]
    Usage(String),
    /// The job could not reach a verdict (install, start, a report that could not be
    /// written). Exit code 2.
    #[error("{0}")]
    Infra(String),
}

impl AppError {
    pub fn usage(msg: impl Into<String>) -> Self {
        AppError::Usage(msg.into())
    }

    pub fn infra(msg: impl Into<String>) -> Self {
        AppError::Infra(msg.into())
    }

    /// The exit code a CI can branch on.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Usage(_) => crate::exit::USAGE,
            AppError::Infra(_) => crate::exit::INFRA,
        }
    }
}

/// The reports the bus could not write, as one error: a report that could not be written
/// is a failure of the job, not a silence.
pub fn reports_written(bus: &oc_conform_runner::report::Bus) -> Result<(), AppError> {
    let errors = bus.errors();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::infra(errors.join("; ")))
    }
}
