//! Completing an update session: the checks before it, the preview of signed OVF content,
//! and the commit that makes the session's files the item's new content.

use super::*;

impl Service {
    pub fn update_complete(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        let s = Self::active_update(&mut state, id)?;
        if s.completing {
            return Err(SimError::not_allowed(format!("Update session {id} is already completing.")));
        }
        if let Some(f) = s.files.iter().find(|f| f.source_type == SourceType::Push && f.status != TransferStatus::Ready)
        {
            return Err(SimError::not_allowed(format!(
                "File {:?} was not received intact (status {}); the session cannot complete.",
                f.name, f.status
            )));
        }
        if let Some(f) = s.files.iter().find(|f| f.status == TransferStatus::Error) {
            return Err(SimError::not_allowed(format!(
                "File {:?} failed: {}.",
                f.name,
                f.error.as_deref().unwrap_or("error")
            )));
        }
        let preview = preview(s);
        if let Some(w) = preview.warnings.iter().find(|w| !w.ignored) {
            let reason = format!("Preview warning {} was not ignored: {}", w.type_, w.message.default_message);
            s.state = UpdateSessionState::Error;
            s.error = Some(reason.clone());
            s.files.clear();
            state.forget_transfers(id);
            return Err(SimError::not_allowed(reason));
        }
        s.completing = true;
        // PULL files still arriving: complete returns now and the session finishes when they are in.
        if s.files.iter().all(|f| f.status == TransferStatus::Ready) {
            state.commit(id);
        }
        Ok(())
    }
}

impl State {
    /// Makes a completing session's files the item's content: one new content version.
    pub(super) fn commit(&mut self, id: &str) {
        let Some(s) = self.updates.get_mut(id) else { return };
        let Some(item) = self.items.get_mut(&s.item_id) else {
            s.state = UpdateSessionState::Error;
            s.error = Some("The library item was deleted during the update.".into());
            return;
        };
        for name in &s.removals {
            item.files.remove(name);
        }
        let keep: Vec<bool> = s.files.iter().map(|f| s.keeps(&f.name)).collect();
        for (f, keep) in s.files.drain(..).zip(keep) {
            if let (true, Some(blob)) = (keep, f.blob) {
                item.files.insert(f.name, blob);
            }
        }
        item.content_version += 1;
        item.model.last_modified_time = Some(Utc::now());
        let library_id = item.model.library_id.clone().unwrap_or_default();
        s.state = UpdateSessionState::Done;
        s.completing = false;
        self.forget_transfers(id);
        self.changed(&library_id);
    }
}

/// The session's preview: AVAILABLE once an OVF descriptor arrived; a `.cert` file means signed
/// content, which the simulator reports as self-signed.
pub(super) fn preview(s: &UpdateSession) -> PreviewInfo {
    let descriptor = s.files.iter().find(|f| is_descriptor(&f.name));
    let state = match descriptor {
        None => PreviewState::Unavailable,
        Some(f) if f.status == TransferStatus::Ready => PreviewState::Available,
        Some(_) => PreviewState::Preparing,
    };
    let cert = s.files.iter().find(|f| f.name.to_ascii_lowercase().ends_with(".cert"));
    let available = state == PreviewState::Available;
    let (certificate_info, warnings) = match (available, cert) {
        (true, Some(cert)) => {
            let pem = cert.blob.as_ref().and_then(|b| std::fs::read_to_string(&b.path).ok()).unwrap_or_default();
            let ignored = s.warning_behavior.iter().any(|w| w.type_ == WarningType::SelfSignedCertificate && w.ignored);
            (
                Some(CertificateInfo {
                    issuer: "CN=cl-sim signer".into(),
                    subject: "CN=cl-sim signer".into(),
                    self_signed: true,
                    x509: pem,
                }),
                vec![PreviewWarningInfo {
                    type_: WarningType::SelfSignedCertificate,
                    message: message("The content is signed with a self-signed certificate."),
                    ignored,
                }],
            )
        }
        _ => (None, Vec::new()),
    };
    PreviewInfo { state, certificate_info, warnings, cert_chain: Vec::new() }
}

/// The `ovf:href` file references of an OVF descriptor.
pub(super) fn ovf_references(descriptor: &str) -> Vec<String> {
    descriptor
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| !href.is_empty() && !href.contains("://"))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ovf_references_are_found() {
        let ovf = r#"<References><File ovf:href="disk-0.vmdk" ovf:id="f1"/><File ovf:href="nvram.bin"/></References>"#;
        assert_eq!(ovf_references(ovf), ["disk-0.vmdk", "nvram.bin"]);
    }
}
