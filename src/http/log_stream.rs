//! A followed deployment log as an HTTP body: the bytes as they come
//! (chunked `text/plain`), or server-sent events, one `data:` per log
//! line, a comment now and then so that proxies keep the connection, and
//! `event: end` when the deployment is final.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::HttpRequest;
use futures_util::Stream;
use tokio::sync::mpsc;

use crate::deployments::FollowEvent;

/// Quiet this long, an event stream sends a comment line.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The client asked for server-sent events.
pub fn wants_events(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"))
}

/// The log's bytes, as they come.
pub fn plain(
    events: mpsc::Receiver<FollowEvent>,
) -> impl Stream<Item = Result<Bytes, Infallible>> + 'static {
    futures_util::stream::unfold(events, |mut events| async move {
        loop {
            match events.recv().await? {
                FollowEvent::Chunk(data) if data.is_empty() => {}
                FollowEvent::Chunk(data) => return Some((Ok(Bytes::from(data)), events)),
                FollowEvent::End(_) => return None,
            }
        }
    })
}

/// What an event stream has yet to send: the receiver, the start of a
/// line not yet ended, and whether `end` was sent.
struct Lines {
    events: mpsc::Receiver<FollowEvent>,
    partial: Vec<u8>,
    ended: bool,
}

/// The log as server-sent events.
pub fn events(
    events: mpsc::Receiver<FollowEvent>,
) -> impl Stream<Item = Result<Bytes, Infallible>> + 'static {
    let lines = Lines {
        events,
        partial: Vec::new(),
        ended: false,
    };
    futures_util::stream::unfold(lines, |mut lines| async move {
        if lines.ended {
            return None;
        }
        loop {
            let next = tokio::select! {
                next = lines.events.recv() => Some(next),
                () = tokio::time::sleep(KEEP_ALIVE) => None,
            };
            let Some(next) = next else {
                return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), lines));
            };
            match next? {
                FollowEvent::Chunk(data) => {
                    lines.partial.extend_from_slice(&data);
                    let out = complete_lines(&mut lines.partial);
                    if !out.is_empty() {
                        return Some((Ok(Bytes::from(out)), lines));
                    }
                }
                FollowEvent::End(state) => {
                    let mut out = Vec::new();
                    if !lines.partial.is_empty() {
                        lines.partial.push(b'\n');
                        out = complete_lines(&mut lines.partial);
                    }
                    out.extend_from_slice(format!("event: end\ndata: {state}\n\n").as_bytes());
                    lines.ended = true;
                    return Some((Ok(Bytes::from(out)), lines));
                }
            }
        }
    })
}

/// Takes the ended lines off `partial`, each as one `data:` event (a
/// `\r` before the newline dropped, bytes that are not UTF-8 replaced).
fn complete_lines(partial: &mut Vec<u8>) -> Vec<u8> {
    let Some(last_newline) = partial.iter().rposition(|&b| b == b'\n') else {
        return Vec::new();
    };
    let rest = partial.split_off(last_newline + 1);
    let mut out = Vec::with_capacity(partial.len() + 16);
    for line in partial[..last_newline].split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(String::from_utf8_lossy(line).as_bytes());
        out.extend_from_slice(b"\n\n");
    }
    *partial = rest;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ended_line_is_one_event_and_the_rest_waits() {
        let mut partial = b"one\r\ntwo\nthr".to_vec();
        assert_eq!(complete_lines(&mut partial), b"data: one\n\ndata: two\n\n");
        assert_eq!(partial, b"thr");
        partial.extend_from_slice(b"ee\n\n");
        assert_eq!(complete_lines(&mut partial), b"data: three\n\ndata: \n\n");
        assert!(partial.is_empty());
        assert!(complete_lines(&mut b"no end".to_vec()).is_empty());
    }
}
