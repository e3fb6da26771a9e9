//! The transfer endpoints behind the opaque `upload_endpoint` / `download_endpoint` URIs:
//! `/cls/data/<token>/<file name>`. Uploads (PUT, or POST as some clients send) are streamed to
//! disk; downloads are served with `Content-Length`, `Accept-Ranges` and `Range` (206) support.
//! Like vCenter's, the URIs authorize themselves: the unguessable token is the credential.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tower::ServiceExt;

use crate::blob::BlobWriter;
use crate::error::SimError;
use crate::faults::{RangeFault, ShortUpload, TransferFaults};
use crate::service::Service;

/// Marks a response whose connection must be cut instead of answered (an injected drop).
#[derive(Clone, Copy, Debug)]
pub struct CutConnection;

/// How often progress reaches the session (it also keeps the session from idling out).
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

fn refuse(error: SimError) -> Response {
    let status = match error.kind {
        cl_api::types::ErrorType::NotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, error.message).into_response()
}

/// A response that makes the server cut the connection instead of answering.
pub(crate) fn cut() -> Response {
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(CutConnection);
    response
}

pub async fn handle(service: Arc<Service>, token: &str, request: Request<Body>) -> Response {
    if request.version() == axum::http::Version::HTTP_2 {
        service.http2_transfers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    // A HEAD has no body to fault: the armed faults wait for the transfer itself.
    let faults = match *request.method() {
        Method::HEAD => TransferFaults::default(),
        ref method => service.faults.take_transfer(method == Method::GET, request.uri().path()),
    };
    match *request.method() {
        Method::PUT | Method::POST => upload(service, token, request.into_body(), faults).await,
        Method::GET | Method::HEAD => download(service, token, request, faults).await,
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

async fn upload(service: Arc<Service>, token: &str, body: Body, faults: TransferFaults) -> Response {
    let ticket = match service.begin_upload(token) {
        Ok(ticket) => ticket,
        Err(error) => return refuse(error),
    };
    let mut writer = match BlobWriter::create(&service.store, ticket.algorithm.as_ref()).await {
        Ok(writer) => writer,
        Err(error) => return (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    };
    let mut stream = body.into_data_stream();
    let mut reported = Instant::now();
    let mut stall = faults.stall;
    let mut dropped = false;
    let outcome = loop {
        let chunk = match stream.next().await {
            None => break writer.finish().await.map_err(|e| e.to_string()),
            Some(Err(e)) => break Err(format!("the upload broke off after {} bytes: {e}", writer.written())),
            Some(Ok(chunk)) => chunk,
        };
        let at = writer.written();
        let (chunk, cut_here) = match faults.drop_after {
            Some(limit) if at + chunk.len() as u64 > limit => (chunk.slice(..(limit - at) as usize), true),
            _ => (chunk, false),
        };
        if let Err(e) = writer.write(&chunk).await {
            break Err(format!("the server could not store the upload: {e}"));
        }
        if let Some((after, pause)) = stall
            && writer.written() >= after
        {
            stall = None;
            tokio::time::sleep(pause).await;
        }
        if cut_here {
            match faults.short_upload {
                // A server that does not check keeps what it got.
                Some(how) => {
                    dropped = how == ShortUpload::Cut;
                    if !dropped {
                        while let Some(Ok(_)) = stream.next().await {}
                    }
                    break writer.finish().await.map_err(|e| e.to_string());
                }
                None => {
                    dropped = true;
                    break Err(format!("the connection was cut after {} bytes", writer.written()));
                }
            }
        }
        if reported.elapsed() >= PROGRESS_EVERY {
            reported = Instant::now();
            service.transfer_progress(&ticket.session, &ticket.name, ticket.generation, writer.written());
        }
    };
    let checked = faults.short_upload.is_none();
    let result = service.finish_transfer(&ticket.session, &ticket.name, ticket.generation, outcome, checked);
    match (dropped, result) {
        (true, _) => cut(),
        (false, Ok(())) => StatusCode::OK.into_response(),
        (false, Err(error)) => refuse(error),
    }
}

async fn download(service: Arc<Service>, token: &str, mut request: Request<Body>, faults: TransferFaults) -> Response {
    let (session, name, blob) = match service.begin_download(token) {
        Ok(found) => found,
        Err(error) => return refuse(error),
    };
    let range_fault = if request.headers().contains_key(header::RANGE) { service.faults.take_range() } else { None };
    if range_fault == Some(RangeFault::Ignore) {
        request.headers_mut().remove(header::RANGE);
    }
    // tower-http does Range, 206/416, Content-Length and Accept-Ranges; the body is wrapped for
    // faults and to notice a complete download.
    // 1 MiB reads: each one is a round trip through the blocking pool (the default is 64 KiB).
    let serve = tower_http::services::ServeFile::new(&blob.path).with_buf_chunk_size(1 << 20);
    let response = match serve.oneshot(request).await {
        Ok(response) => response,
        Err(error) => return (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    };
    let start = response
        .headers()
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes "))
        .and_then(|v| v.split('-').next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(header::LAST_MODIFIED);
    if range_fault == Some(RangeFault::WrongStart) && start > 0 {
        let wrong = format!("bytes {}-{}/{}", start - 1, blob.size - 2, blob.size);
        parts.headers.insert(header::CONTENT_RANGE, wrong.parse().expect("an ASCII header value"));
    }
    if !parts.status.is_success() {
        return Response::from_parts(parts, Body::new(body));
    }
    let size = blob.size;
    if start >= size {
        // Nothing left to send (an empty file): the body may never be polled, so report now.
        service.finish_download(&session, &name);
    }
    let counter = service.bytes_served.clone();
    let stream = Body::new(body).into_data_stream();
    let watched = watch(stream, start, size, faults, move |end| {
        if end == size {
            service.finish_download(&session, &name);
        } else {
            service.touch_download(&session);
        }
    });
    // The blob stays alive (and on disk) until the body is done; every byte sent is counted.
    let body = Body::from_stream(watched.map(move |item| {
        let _keep = &blob;
        if let Ok(chunk) = &item {
            counter.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
        item
    }));
    Response::from_parts(parts, body)
}

/// Passes a download body through, applying the armed faults, and reports the end offset it
/// reached (`on_progress`) periodically and when the body ends.
fn watch<S>(
    stream: S,
    start: u64,
    size: u64,
    faults: TransferFaults,
    on_progress: impl Fn(u64) + Send + 'static,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Send + Unpin + 'static,
{
    struct Watch<S, F> {
        stream: S,
        offset: u64,
        size: u64,
        sent: u64,
        faults: TransferFaults,
        on_progress: F,
        reported: Instant,
        done: bool,
    }
    let state =
        Watch { stream, offset: start, size, sent: 0, faults, on_progress, reported: Instant::now(), done: false };
    futures_util::stream::unfold(state, |mut w| async move {
        if w.done {
            return None;
        }
        let Some(item) = w.stream.next().await else {
            (w.on_progress)(w.offset);
            return None;
        };
        let mut chunk = match item {
            Ok(chunk) => chunk,
            Err(e) => return Some((Err(std::io::Error::other(e)), Watch { done: true, ..w })),
        };
        if let Some(at) = w.faults.corrupt_at
            && (w.offset..w.offset + chunk.len() as u64).contains(&at)
        {
            let mut owned = chunk.to_vec();
            owned[(at - w.offset) as usize] ^= 0xff;
            chunk = Bytes::from(owned);
            w.faults.corrupt_at = None;
        }
        if let Some(limit) = w.faults.drop_after
            && w.sent + chunk.len() as u64 > limit
        {
            let keep = (limit - w.sent) as usize;
            if keep == 0 {
                let error = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected connection drop");
                return Some((Err(error), Watch { done: true, ..w }));
            }
            chunk = chunk.slice(..keep);
        }
        if let Some((after, pause)) = w.faults.stall
            && w.sent + chunk.len() as u64 >= after
        {
            w.faults.stall = None;
            tokio::time::sleep(pause).await;
        }
        w.sent += chunk.len() as u64;
        w.offset += chunk.len() as u64;
        // The end is reported before the last chunk leaves, so a client that has every byte
        // also finds the file's checksum reported.
        if w.offset == w.size || w.reported.elapsed() >= PROGRESS_EVERY {
            w.reported = Instant::now();
            (w.on_progress)(w.offset);
        }
        Some((Ok(chunk), w))
    })
}
