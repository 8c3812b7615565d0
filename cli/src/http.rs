//! A small HTTP/1.1 server on a loopback port: how `sluice dev` serves the API locally.
//! Every request is answered by one async function of (headers, body).

use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc};

use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Response, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// AWS caps API request bodies well below this; larger ones are refused unread.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// What a handler gets: the `X-Amz-Target` header and the body.
pub struct Call {
    pub target: Option<String>,
    pub body: Bytes,
}

/// What a handler answers.
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// Serves `handler` on `listener` until `shutdown` completes. Each connection runs on its
/// own task; a connection error ends that connection only.
pub async fn serve<H, F>(listener: TcpListener, handler: H, shutdown: impl Future<Output = ()>) -> std::io::Result<()>
where
    H: Fn(Call) -> F + Send + Sync + 'static,
    F: Future<Output = Answer> + Send + 'static,
{
    let handler = Arc::new(handler);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(respond(request, &*handler).await) }
            });
            // A client that goes away mid-request is its own business.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn respond<H, F>(request: Request<hyper::body::Incoming>, handler: &H) -> Response<Full<Bytes>>
where
    H: Fn(Call) -> F,
    F: Future<Output = Answer>,
{
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let answer = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => {
            handler(Call {
                target,
                body: collected.to_bytes(),
            })
            .await
        }
        Err(error) => Answer {
            status: 413,
            content_type: "application/x-amz-json-1.1",
            body: format!(
                r#"{{"__type":"InvalidRequestException","message":"the request body could not be read: {error}"}}"#
            )
            .into_bytes(),
        },
    };
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(answer.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = hyper::header::HeaderValue::from_str(answer.content_type) {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// Binds `address`, saying clearly when the port is taken.
pub async fn bind(address: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(address)
        .await
        .map_err(|error| format!("cannot listen on {address}: {error} (choose another with --listen 127.0.0.1:PORT)"))
}
