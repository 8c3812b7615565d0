//! A small HTTP/1.1 server on a loopback port: how `sluice dev` serves the API locally and
//! `sluice proxy` takes requests for a deployed one. Every request is answered by one async
//! function of the request read whole.

use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc};

use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Response, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// AWS caps API request bodies well below this; larger ones are refused unread.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// What a handler gets: the request as it came, the body read whole.
pub struct Call {
    pub method: String,
    /// The path as sent, still percent-encoded.
    pub path: String,
    /// The query as sent, without `?`.
    pub query: String,
    /// Every header (a repeated one once per value); values that are not text are dropped.
    pub headers: Vec<(String, String)>,
    pub target: Option<String>,
    pub body: Bytes,
}

impl Call {
    /// The request as a signature check reads it.
    pub fn signed_request(&self) -> sluice::api::sigv4::SignedRequest<'_> {
        sluice::api::sigv4::SignedRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// What a handler answers.
pub struct Answer {
    pub status: u16,
    pub content_type: std::borrow::Cow<'static, str>,
    pub body: Vec<u8>,
}

impl Answer {
    /// An error in the Data Pipeline protocol's shape: `{"__type": ..., "message": ...}`.
    pub fn error(status: u16, aws_type: &str, message: &str) -> Self {
        Self {
            status,
            content_type: sluice::api::CONTENT_TYPE.into(),
            body: serde_json::json!({ "__type": aws_type, "message": message })
                .to_string()
                .into_bytes(),
        }
    }
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
    let (parts, body) = request.into_parts();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    let target = headers
        .iter()
        .find(|(name, _)| name == "x-amz-target")
        .map(|(_, value)| value.clone());
    let answer = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => {
            handler(Call {
                method: parts.method.as_str().to_owned(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                headers,
                target,
                body: collected.to_bytes(),
            })
            .await
        }
        Err(error) => Answer::error(
            413,
            "InvalidRequestException",
            &format!("the request body could not be read: {error}"),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(answer.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = hyper::header::HeaderValue::from_str(&answer.content_type) {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// Lets through only requests signed with the credentials it holds, answering the rest as
/// AWS would (403 with AWS's error name and why).
#[derive(Clone)]
pub struct SignatureGate {
    credentials: aws_credential_types::provider::SharedCredentialsProvider,
    service: Option<String>,
    region: Option<String>,
}

impl SignatureGate {
    /// A gate over the credentials `config` resolves (the environment's, a profile's...),
    /// insisting on `service` and `region` when given. Fails when there are none.
    pub async fn new(
        config: &aws_config::SdkConfig,
        service: Option<String>,
        region: Option<String>,
    ) -> Result<Self, String> {
        use aws_credential_types::provider::ProvideCredentials as _;
        let credentials = config
            .credentials_provider()
            .ok_or("no AWS credentials are configured to check signatures against")?;
        credentials
            .provide_credentials()
            .await
            .map_err(|error| format!("the AWS credentials to check signatures against cannot be loaded: {error}"))?;
        Ok(Self {
            credentials,
            service,
            region,
        })
    }

    /// The signer of `call`, or the answer refusing it.
    pub async fn check(&self, call: &Call) -> Result<sluice::api::sigv4::Signer, Answer> {
        use aws_credential_types::provider::ProvideCredentials as _;
        use sluice::api::sigv4::{Expected, SigningKey, verify};
        let credentials = self.credentials.provide_credentials().await.map_err(|error| {
            Answer::error(
                500,
                "InternalServiceError",
                &format!("the AWS credentials to check signatures against cannot be loaded: {error}"),
            )
        })?;
        let key = SigningKey {
            access_key_id: credentials.access_key_id(),
            secret_access_key: credentials.secret_access_key(),
        };
        let expected = Expected {
            service: self.service.as_deref(),
            region: self.region.as_deref(),
        };
        verify(&call.signed_request(), &key, &expected, chrono::Utc::now())
            .map_err(|refused| Answer::error(403, refused.aws_error_code(), &refused.to_string()))
    }
}

/// Binds `address`, saying clearly when the port is taken.
pub async fn bind(address: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(address)
        .await
        .map_err(|error| format!("cannot listen on {address}: {error} (choose another with --listen 127.0.0.1:PORT)"))
}
