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

/// Refuses to listen on `listen` unless it is a loopback address, giving `why` the server
/// must stay on this machine.
pub fn loopback_only(listen: SocketAddr, why: &str) -> Result<(), String> {
    if listen.ip().to_canonical().is_loopback() {
        Ok(())
    } else {
        Err(format!("--listen {listen}: {why}"))
    }
}

/// The Host headers a server on `address` answers: its port on localhost or a loopback
/// address (127.0.0.1, [::1]), or on the address it listens on (any address, when it
/// listens on all of them). A name that
/// is none of these is someone else's DNS pointing here, as a web page rebinding its domain
/// to loopback would, and is refused; an address written as digits cannot be rebound.
pub struct ServedHosts {
    address: SocketAddr,
}

impl ServedHosts {
    pub fn new(address: SocketAddr) -> Self {
        Self { address }
    }

    /// Nothing when `call`'s Host is one this server answers; else the answer refusing it.
    pub fn check(&self, call: &Call) -> Result<(), Answer> {
        let host = call
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("host"))
            .map(|(_, value)| value.trim());
        if host.is_some_and(|host| self.serves(host)) {
            return Ok(());
        }
        let port = self.address.port();
        let named = host.map_or_else(|| "no Host header".to_owned(), |host| format!("Host {host:?}"));
        Err(Answer::error(
            400,
            sluice::api::ErrorKind::InvalidRequest.type_name(),
            &format!(
                "{named} is not an address this server answers: call it as http://127.0.0.1:{port},                  http://localhost:{port}, http://[::1]:{port} or http://{} (a name resolving here from                  elsewhere is refused, as DNS rebinding would use one)",
                self.address
            ),
        ))
    }

    fn serves(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        // Without a port, the request went to HTTP's own.
        let has_port = match host.rsplit_once(']') {
            Some((_, after)) => after.starts_with(':'),
            None => host.contains(':'),
        };
        let host = if has_port { host } else { format!("{host}:80") };
        if let Some(port) = host.strip_prefix("localhost:") {
            return port.parse() == Ok(self.address.port());
        }
        let Ok(named) = host.parse::<SocketAddr>() else {
            return false;
        };
        let (ip, listening) = (named.ip().to_canonical(), self.address.ip().to_canonical());
        named.port() == self.address.port() && (ip.is_loopback() || ip == listening || listening.is_unspecified())
    }
}

/// Binds `address`, saying clearly when the port is taken.
pub async fn bind(address: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(address)
        .await
        .map_err(|error| format!("cannot listen on {address}: {error} (choose another with --listen 127.0.0.1:PORT)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call_with_host(host: Option<&str>) -> Call {
        Call {
            method: "POST".to_owned(),
            path: "/".to_owned(),
            query: String::new(),
            headers: host
                .map(|host| ("host".to_owned(), host.to_owned()))
                .into_iter()
                .collect(),
            target: None,
            body: Bytes::new(),
        }
    }

    fn answered(listen: &str, host: Option<&str>) -> bool {
        ServedHosts::new(listen.parse().unwrap())
            .check(&call_with_host(host))
            .is_ok()
    }

    #[test]
    fn a_loopback_server_answers_its_own_port_on_loopback_names_only() {
        for host in [
            "127.0.0.1:8765",
            "localhost:8765",
            "LocalHost:8765",
            "[::1]:8765",
            "[0:0:0:0:0:0:0:1]:8765",
        ] {
            assert!(answered("127.0.0.1:8765", Some(host)), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8765",
            "localhost.evil.example:8765",
            "127.0.0.1:8766",
            "localhost",
            "10.0.0.5:8765",
            "127.0.0.1:8765@evil.example",
            "",
        ] {
            assert!(!answered("127.0.0.1:8765", Some(host)), "{host}");
        }
        assert!(!answered("127.0.0.1:8765", None));
        // Without a port, the request went to port 80.
        assert!(answered("127.0.0.1:80", Some("localhost")));
    }

    #[test]
    fn a_server_on_another_address_answers_that_address_too() {
        assert!(answered("10.0.0.5:8765", Some("10.0.0.5:8765")));
        assert!(answered("10.0.0.5:8765", Some("127.0.0.1:8765")));
        assert!(!answered("10.0.0.5:8765", Some("10.0.0.6:8765")));
        assert!(!answered("10.0.0.5:8765", Some("build-box.internal:8765")));
        // Listening on every address, any address written as digits is its own.
        assert!(answered("0.0.0.0:8765", Some("192.168.1.20:8765")));
        assert!(answered("[::]:8765", Some("[fe80::1]:8765")));
        assert!(!answered("0.0.0.0:8765", Some("rebound.example:8765")));
    }

    #[test]
    fn a_refused_host_is_named_in_an_aws_shaped_error() {
        let refused = ServedHosts::new("127.0.0.1:8765".parse().unwrap())
            .check(&call_with_host(Some("evil.example:8765")))
            .err()
            .unwrap();
        assert_eq!(refused.status, 400);
        let body: serde_json::Value = serde_json::from_slice(&refused.body).unwrap();
        assert_eq!(body["__type"], "InvalidRequestException");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.starts_with("Host \"evil.example:8765\" is not an address this server answers"),
            "{message}"
        );
        assert!(message.contains("http://127.0.0.1:8765"), "{message}");
    }

    #[test]
    fn only_loopback_listen_addresses_pass_the_loopback_check() {
        for listen in ["127.0.0.1:8765", "[::1]:0", "[::ffff:127.0.0.1]:8765"] {
            assert_eq!(loopback_only(listen.parse().unwrap(), "why"), Ok(()), "{listen}");
        }
        assert_eq!(
            loopback_only("0.0.0.0:8765".parse().unwrap(), "it must stay local"),
            Err("--listen 0.0.0.0:8765: it must stay local".to_owned())
        );
        assert!(loopback_only("[::]:8765".parse().unwrap(), "why").is_err());
        assert!(loopback_only("192.168.1.20:8765".parse().unwrap(), "why").is_err());
    }
}
