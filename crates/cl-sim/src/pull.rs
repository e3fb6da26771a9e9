//! The server side of PULL: fetching a file from the source endpoint an update session names.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use crate::blob;
use crate::service::{PullJob, Service};

/// Fetches a PULL file from its source, trusting exactly the given certificate or thumbprint when
/// the endpoint names one, and standard verification otherwise.
pub(crate) async fn run(service: Arc<Service>, job: PullJob) {
    let outcome = pull(&service, &job).await;
    let _ = service.finish_transfer(&job.session, &job.name, job.generation, outcome, true);
}

async fn pull(service: &Service, job: &PullJob) -> Result<blob::Blob, String> {
    let mut pins = Vec::new();
    if let Some(pem) = &job.endpoint.ssl_certificate {
        let certs = cl_tls::pem_certificates(pem).map_err(|e| format!("ssl_certificate: {e}"))?;
        pins.extend(certs.into_iter().map(cl_tls::Pin::Certificate));
    } else if let Some(thumbprint) = &job.endpoint.ssl_certificate_thumbprint {
        pins.push(cl_tls::Pin::Thumbprint(thumbprint.parse().map_err(|e| format!("ssl_certificate_thumbprint: {e}"))?));
    }
    let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(30));
    if !pins.is_empty() {
        builder = builder.tls_backend_preconfigured(cl_tls::PinnedVerifier::client_config(pins));
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    let response =
        client.get(&job.endpoint.uri).send().await.map_err(|e| format!("fetching {}: {e}", job.endpoint.uri))?;
    if !response.status().is_success() {
        return Err(format!("fetching {}: HTTP {}", job.endpoint.uri, response.status()));
    }
    let mut writer =
        blob::BlobWriter::create(&service.store, job.algorithm.as_ref()).await.map_err(|e| e.to_string())?;
    let mut stream = response.bytes_stream();
    let mut reported = std::time::Instant::now();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("fetching {}: {e}", job.endpoint.uri))?;
        writer.write(&chunk).await.map_err(|e| e.to_string())?;
        if reported.elapsed() >= Duration::from_millis(250) {
            reported = std::time::Instant::now();
            service.transfer_progress(&job.session, &job.name, job.generation, writer.written());
        }
    }
    writer.finish().await.map_err(|e| e.to_string())
}
