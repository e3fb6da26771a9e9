//! Ending an upload's update session: files removed for `replace`, validation, the preview of
//! signed content, complete and the wait for DONE; or, on failure, the session failed (or
//! canceled) and deleted so the item keeps its previous content.

use cl_api::types::{
    PreviewInfo, PreviewState, PreviewWarningInfo, UpdateFileInfo, UpdateSessionState, ValidationResult,
    WarningBehavior,
};

use super::send::UploadJob;
use crate::error::{Detail, Error, ErrorKind, Result};
use crate::retry::Waiter;
use crate::session::UpdateSession;

impl UploadJob<'_> {
    /// Removes `removals`, validates, settles the preview and completes the session.
    pub(super) async fn commit(&self, removals: &[String]) -> Result<Option<PreviewInfo>> {
        let session = &self.session;
        for name in removals {
            session.remove_file(name).await?;
        }
        let validation = session.validate().await?.unwrap_or_else(|| {
            tracing::warn!(
                session = %session.id(),
                "the server gave no validation result; relying on its transfer checks"
            );
            ValidationResult { has_errors: false, missing_files: Vec::new(), invalid_files: Vec::new() }
        });
        if validation.has_errors {
            let mut problems: Vec<String> =
                validation.missing_files.iter().map(|m| format!("{m} is missing")).collect();
            problems.extend(
                validation.invalid_files.iter().map(|f| format!("{}: {}", f.name, f.error_message.default_message)),
            );
            return Err(Error::new(
                ErrorKind::Verification,
                format!("the server found problems: {}", problems.join("; ")),
            ));
        }
        let preview = self.settle_preview().await?;
        if let Err(error) = session.complete().await {
            // The answer may have been lost after the server completed: its state says which.
            let unknown = crate::retry::classify(&error) == crate::retry::Class::Unknown;
            let done =
                unknown && matches!(session.info().await, Ok(info) if info.state == Some(UpdateSessionState::Done));
            if !done {
                return Err(error);
            }
            tracing::info!(session = %session.id(), "complete's answer was lost, but the session is DONE");
        }
        session.wait_done(self.options.settle_timeout).await?;
        Ok(preview)
    }

    /// Waits for the preview of signed content, ignores the warnings the caller accepted and
    /// refuses the rest. Servers without previews (or content without a signature) pass.
    async fn settle_preview(&self) -> Result<Option<PreviewInfo>> {
        let mut waiter = Waiter::new("the content preview", self.options.settle_timeout);
        let preview = loop {
            match self.session.info().await?.preview_info {
                Some(p) if p.state == PreviewState::Preparing => waiter.pause(&p.state).await?,
                other => break other,
            }
        };
        let Some(preview) = preview else { return Ok(None) };
        let refused: Vec<&PreviewWarningInfo> = preview
            .warnings
            .iter()
            .filter(|w| !w.ignored && !self.options.ignore_warnings.contains(&w.type_))
            .collect();
        if !refused.is_empty() {
            let list: Vec<String> =
                refused.iter().map(|w| format!("{} ({})", w.type_, w.message.default_message)).collect();
            let types = refused.iter().map(|w| w.type_.clone()).collect();
            return Err(Error::new(
                ErrorKind::Verification,
                format!("the signed content raised warnings not chosen to be ignored: {}", list.join("; ")),
            )
            .with(Detail::PreviewWarnings(types)));
        }
        let behavior: Vec<WarningBehavior> =
            preview.warnings.iter().map(|w| WarningBehavior { type_: w.type_.clone(), ignored: true }).collect();
        if !behavior.is_empty() {
            self.session.set_warning_behavior(behavior).await?;
        }
        Ok(Some(preview))
    }
}

/// One file of the session, read from the file list: one call on every server, and it avoids the
/// single-file get that some servers answer wrongly (govmomi's vcsim returns the session).
pub(super) async fn session_file(session: &UpdateSession, name: &str) -> Result<UpdateFileInfo> {
    let files = session.files().await?;
    files
        .into_iter()
        .find(|f| f.name == name)
        .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("the update session no longer lists {name}")))
}

/// Ends a session whose upload failed: canceled when the caller canceled, failed with the reason
/// otherwise, then deleted. The item keeps its previous content.
pub(super) async fn abandon(session: &UpdateSession, error: &Error) {
    let ended = if error.kind() == ErrorKind::Canceled {
        session.cancel().await
    } else {
        let message: String = format!("cl-sdk: {error}").chars().take(1000).collect();
        session.fail(&message).await
    };
    if let Err(e) = ended
        && e.kind() != ErrorKind::NotAllowedInCurrentState
    {
        tracing::warn!(session = %session.id(), error = %e, "could not end the failed update session");
    }
    if let Err(e) = session.delete().await {
        tracing::warn!(session = %session.id(), error = %e, "could not delete the failed update session");
    }
}
