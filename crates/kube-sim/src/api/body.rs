//! Response bodies: whole JSON, protobuf or text documents, and the streamed body of a watch.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use hyper::{Response, StatusCode};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::api::status::ApiError;

/// The body type of every response.
pub type Body = BoxBody<Bytes, Infallible>;

pub fn json(status: u16, value: &Value) -> Response<Body> {
    bytes(status, "application/json", Bytes::from(value.to_string()))
}

pub fn text(status: u16, body: String) -> Response<Body> {
    bytes(status, "text/plain", Bytes::from(body))
}

/// An object, list or Status in the form the client asked for: Kubernetes protobuf when its
/// Accept header takes nothing else, JSON otherwise.
pub fn object(status: u16, value: &Value, accept: &str) -> Response<Body> {
    if !crate::protobuf::accepts_only_protobuf(accept) {
        return json(status, value);
    }
    match crate::protobuf::encode_object(value) {
        Ok(Some(encoded)) => bytes(status, crate::protobuf::MEDIA_TYPE, Bytes::from(encoded)),
        // Custom resources have no protobuf form; the real server refuses such a client.
        Ok(None) => error_for(
            &ApiError::new(
                406,
                "NotAcceptable",
                "only the following media types are accepted: application/json, application/yaml",
            ),
            accept,
        ),
        Err(e) => error_for(
            &ApiError::new(
                500,
                "InternalError",
                format!("encoding the answer as protobuf: {e}"),
            ),
            accept,
        ),
    }
}

pub fn error(err: &ApiError) -> Response<Body> {
    error_for(err, "")
}

/// An error's Status, in protobuf for a client that accepts only that.
pub fn error_for(err: &ApiError, accept: &str) -> Response<Body> {
    let status = err.to_status();
    let encoded = crate::protobuf::accepts_only_protobuf(accept)
        .then(|| crate::protobuf::encode_object(&status).ok().flatten())
        .flatten();
    let mut response = match encoded {
        Some(encoded) => bytes(err.code, crate::protobuf::MEDIA_TYPE, Bytes::from(encoded)),
        None => json(err.code, &status),
    };
    if let Some(secs) = err.retry_after
        && let Ok(value) = secs.to_string().parse()
    {
        response
            .headers_mut()
            .insert(hyper::header::RETRY_AFTER, value);
    }
    response
}

pub fn bytes(status: u16, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body).boxed());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

/// A streamed body fed by a channel: each message is one chunk (one watch event line). The
/// stream ends when the sender is dropped.
#[derive(Debug)]
pub struct ChannelBody {
    receiver: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.receiver
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// A 200 response whose body is whatever is sent on the returned channel, as JSON lines.
pub fn streaming() -> (mpsc::Sender<Bytes>, Response<Body>) {
    let (sender, receiver) = mpsc::channel(256);
    let mut response = Response::new(ChannelBody { receiver }.boxed());
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    (sender, response)
}
