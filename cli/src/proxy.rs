//! `sluice proxy`: the `aws` CLI, boto3 and any SDK against a deployed Sluice API.
//!
//! The deployed API is a Lambda function URL with `AuthType: AWS_IAM`, which checks
//! signatures made for the service `lambda`; AWS's tools sign Data Pipeline calls for
//! `datapipeline`. The proxy listens on loopback, checks that each request is signed with
//! the credentials it holds (so a loopback port is no way around them), signs it again for
//! the function URL and forwards it, once: the caller's tool does its own retrying. The
//! answer comes back as the API gave it, errors included.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use anyhow::{Context, anyhow};
use aws_sdk_datapipeline::config::{
    ConfigBag, Intercept, RuntimeComponents,
    interceptors::{AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut},
    retry::RetryConfig,
};
use aws_smithy_types::body::SdkBody;
use hyper::body::Bytes;

use crate::{
    Outcome,
    http::{Answer, Call, SignatureGate, bind, loopback_only, serve},
};

#[derive(clap::Args)]
pub struct Args {
    /// Where the proxy listens (loopback)
    #[arg(long, default_value = "127.0.0.1:8766")]
    pub listen: SocketAddr,
    /// The service the endpoint checks signatures for (a function URL: lambda)
    #[arg(long, default_value = "lambda", value_name = "SERVICE")]
    pub signing_name: String,
}

/// Runs the proxy in front of `endpoint` (the stack's `ApiUrl`) until Ctrl-C.
pub fn run(endpoint: Option<&str>, args: &Args) -> Outcome {
    let Some(endpoint) = endpoint
        .map(str::to_owned)
        .or_else(|| std::env::var("SLUICE_ENDPOINT").ok().filter(|url| !url.is_empty()))
    else {
        eprintln!("error: sluice proxy needs the deployed API's URL: --endpoint URL (the stack's ApiUrl output)");
        return Outcome::Usage;
    };
    let runtime = match crate::runtime() {
        Ok(runtime) => runtime,
        Err(outcome) => return outcome,
    };
    match runtime.block_on(serve_until_stopped(&endpoint, args)) {
        Ok(()) => Outcome::Success,
        Err(error) => {
            eprintln!("error: {error:#}");
            Outcome::Usage
        }
    }
}

async fn serve_until_stopped(endpoint: &str, args: &Args) -> anyhow::Result<()> {
    loopback_only(
        args.listen,
        "the proxy signs with your credentials, so it listens on loopback only (127.0.0.1:PORT)",
    )
    .map_err(|error| anyhow!(error))?;
    let sdk = crate::pipelines::aws_defaults().load().await;
    let gate = SignatureGate::new(&sdk, None, None)
        .await
        .map_err(|error| anyhow!(error))?;
    let config = crate::pipelines::signed_config(&sdk, Some(endpoint), Some(args.signing_name.clone()))
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    let client = aws_sdk_datapipeline::Client::from_conf(config);
    let listener = bind(args.listen).await.map_err(|error| anyhow!(error))?;
    let address = listener.local_addr().context("reading the listening address")?;
    println!(
        "Sluice proxy is running: http://{address} -> {endpoint} (signed for {})",
        args.signing_name
    );
    println!("  aws datapipeline --endpoint-url http://{address} list-pipelines");
    println!("  export AWS_ENDPOINT_URL_DATA_PIPELINE=http://{address}   # boto3, the AWS CLI and SDKs");
    println!("Stop with Ctrl-C.");
    let endpoint: &'static str = Box::leak(endpoint.to_owned().into_boxed_str());
    let handler = move |call: Call| {
        let gate = gate.clone();
        let client = client.clone();
        async move {
            if let Err(refused) = gate.check(&call).await {
                return refused;
            }
            forward(&client, endpoint, call).await
        }
    };
    let stopped = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(listener, handler, stopped).await.context("serving the proxy")
}

/// What the API answered, as it answered it.
#[derive(Debug)]
struct Raw {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// Sends `call`'s operation and body through the SDK client (which signs it for the
/// endpoint), keeping the raw answer. The operation the SDK thinks it sends is only a
/// carrier: its target and body are replaced before signing, and its parsing ignored.
async fn forward(client: &aws_sdk_datapipeline::Client, endpoint: &str, call: Call) -> Answer {
    let answer = Arc::new(Mutex::new(None));
    let sent = client
        .list_pipelines()
        .customize()
        .interceptor(Forward {
            target: call.target,
            body: call.body,
            answer: answer.clone(),
        })
        .send()
        .await;
    let raw = answer.lock().map(|mut slot| slot.take()).unwrap_or_default();
    match (raw, sent) {
        (Some(raw), _) => Answer {
            status: raw.status,
            content_type: raw
                .content_type
                .map_or(sluice::api::CONTENT_TYPE.into(), std::borrow::Cow::Owned),
            body: raw.body,
        },
        (None, Err(error)) => Answer::error(
            502,
            "InternalServiceError",
            &format!(
                "sluice proxy could not reach {endpoint}: {}",
                sluice::error_chain(&error)
            ),
        ),
        (None, Ok(_)) => Answer::error(
            502,
            "InternalServiceError",
            &format!("sluice proxy got no answer from {endpoint}"),
        ),
    }
}

#[derive(Debug)]
struct Forward {
    target: Option<String>,
    body: Bytes,
    answer: Arc<Mutex<Option<Raw>>>,
}

impl Intercept for Forward {
    fn name(&self) -> &'static str {
        "SluiceProxyForward"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request_mut();
        match &self.target {
            Some(target) => {
                request.headers_mut().insert("x-amz-target", target.clone());
            }
            None => {
                request.headers_mut().remove("x-amz-target");
            }
        }
        request
            .headers_mut()
            .insert("content-length", self.body.len().to_string());
        *request.body_mut() = SdkBody::from(self.body.clone());
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let response = context.response();
        let raw = Raw {
            status: response.status().as_u16(),
            content_type: response.headers().get("content-type").map(str::to_owned),
            body: response.body().bytes().unwrap_or_default().to_vec(),
        };
        if let Ok(mut slot) = self.answer.lock() {
            *slot = Some(raw);
        }
        Ok(())
    }
}
