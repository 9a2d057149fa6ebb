//! The body of the answers the HTTP/1 dispatcher gives on its own, before any service sees a
//! request: 431 for a request head over the buffer limit, 400 for one the parser refuses (a raw
//! 0xFF in the path, say), 500 when the service cannot be called. Upstream sends them with an
//! empty body; a server whose every error has a documented shape registers that body once at
//! start.
//!
//! Not in upstream actix-http: added by photo-ledger's vendored copy (see `vendor/README.md` in
//! its repository).

use std::sync::OnceLock;

use bytes::Bytes;

use crate::{
    body::BoxBody,
    header::{HeaderValue, CONTENT_TYPE},
    Response, StatusCode,
};

/// Makes the body of a dispatcher answer with this status, with its `Content-Type`.
pub type UnreadableRequestBody = fn(StatusCode) -> (HeaderValue, Bytes);

static BODY: OnceLock<UnreadableRequestBody> = OnceLock::new();

/// Sets, once per process, the body of the dispatcher's own answers. Returns `false` when one
/// was set already; the first stays.
pub fn set_unreadable_request_body(body: UnreadableRequestBody) -> bool {
    BODY.set(body).is_ok()
}

/// The dispatcher's own answer with the registered body, or empty when none is registered.
pub(crate) fn with_body(mut res: Response<()>) -> (Response<()>, BoxBody) {
    match BODY.get() {
        Some(body) => {
            let (content_type, bytes) = body(res.status());
            res.headers_mut().insert(CONTENT_TYPE, content_type);
            (res, BoxBody::new(bytes))
        }
        None => (res, BoxBody::new(())),
    }
}
