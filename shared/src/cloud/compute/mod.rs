//! The compute port: the machines a pipeline's `Ec2Resource`s run on, and the EMR
//! clusters of its `EmrCluster`s with the steps its EMR activities submit. [`AwsCompute`]
//! is the AWS adapter (EC2 in [`ec2`], EMR in [`emr`]); [`FakeCompute`] is the engine tests'
//! cloud, where capacity errors, spot interruptions and step endings can be made to happen
//! on cue (emulators cannot make them: moto's steps never end).
//!
//! Launches are idempotent through a token (the resource attempt's id): an adapter tags
//! what it launches with it and looks the token up before launching, because a client
//! token alone is not enough (moto ignores it, and a crash between launch and record must
//! never leave a second machine).

pub mod ec2;
pub mod emr;
mod fake;

pub use fake::FakeCompute;

use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    sync::Mutex,
};

use aws_config::SdkConfig;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use thiserror::Error;

/// On-demand or spot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Market {
    OnDemand,
    /// Spot, paying at most `max_price` dollars an hour (`spotBidPrice`); `None` is EC2's
    /// default, the on-demand price.
    Spot {
        max_price: Option<String>,
    },
}

impl Market {
    pub fn is_spot(&self) -> bool {
        matches!(self, Self::Spot { .. })
    }
}

/// One machine to launch: the fields of an `Ec2Resource`, evaluated for its run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineSpec {
    pub instance_type: String,
    pub image_id: String,
    pub subnet_id: Option<String>,
    pub security_group_ids: Vec<String>,
    /// Security group names (EC2-Classic and default VPCs).
    pub security_groups: Vec<String>,
    pub key_pair: Option<String>,
    pub associate_public_ip_address: Option<bool>,
    pub availability_zone: Option<String>,
    /// Where to launch, when not in Sluice's own region (`region`).
    pub region: Option<String>,
    /// The instance profile (`resourceRole`).
    pub instance_profile: Option<String>,
    /// The boot script: it starts `sluice runner` for the resource's worker group.
    pub user_data: String,
    pub market: Market,
}

/// A launch: what to start, the token that makes it happen once, and the tags it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// Idempotency: the same token never starts a second machine.
    pub token: String,
    pub spec: MachineSpec,
    pub tags: Vec<(String, String)>,
}

/// The tag that carries a launch's token.
pub const TOKEN_TAG: &str = "sluice:attempt";
/// The tag every machine Sluice launches carries: the pipeline it is for.
pub const PIPELINE_TAG: &str = "sluice:pipeline";
/// The tag naming the worker group a machine's runner serves.
pub const WORKER_GROUP_TAG: &str = "sluice:worker-group";

/// A machine Sluice launched that has not ended, with the worker group its runner serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub machine: Machine,
    pub worker_group: Option<String>,
    /// The launch token it carries ([`TOKEN_TAG`]).
    pub token: Option<String>,
}

/// What a machine is doing, in EC2's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineState {
    Pending,
    Running,
    /// Stopping or shutting down.
    Stopping,
    /// Gone, with EC2's reason (`Server.SpotInstanceTermination: ...` for a spot
    /// interruption).
    Terminated {
        reason: Option<String>,
    },
    /// EC2 does not know the machine (terminated long ago, or never launched).
    Unknown,
}

impl MachineState {
    /// Whether EC2 took the machine back (a spot interruption), as opposed to Sluice or an
    /// operator terminating it.
    pub fn interrupted(&self) -> bool {
        matches!(self, Self::Terminated { reason: Some(reason) } if reason.contains("SpotInstanceTermination"))
    }

    pub fn is_gone(&self) -> bool {
        matches!(self, Self::Terminated { .. } | Self::Unknown)
    }
}

/// A launched machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub id: String,
    pub state: MachineState,
    pub spot: bool,
}

/// An EMR instance group (master, core or task): its type, size and market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeGroup {
    pub instance_type: String,
    pub count: i32,
    pub market: Market,
    /// Configurations of this group alone (`masterGroupConfiguration`, ...).
    pub configurations: Vec<ClusterConfiguration>,
}

/// An `EmrConfiguration`: a classification with its properties and nested configurations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfiguration {
    pub classification: String,
    pub properties: Vec<(String, String)>,
    pub configurations: Vec<ClusterConfiguration>,
}

/// A bootstrap action: a script and its arguments (`bootstrapAction`'s `uri,arg,...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapAction {
    pub path: String,
    pub args: Vec<String>,
}

/// One EMR cluster to launch: the fields of an `EmrCluster`, evaluated for its run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// `emr-6.15.0` style (`releaseLabel`), or a legacy `amiVersion`.
    pub release_label: Option<String>,
    pub ami_version: Option<String>,
    pub applications: Vec<String>,
    pub master: NodeGroup,
    pub core: Option<NodeGroup>,
    pub task: Option<NodeGroup>,
    pub bootstrap_actions: Vec<BootstrapAction>,
    pub configurations: Vec<ClusterConfiguration>,
    pub log_uri: Option<String>,
    pub key_pair: Option<String>,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    /// Where to launch, when not in Sluice's own region (`region`).
    pub region: Option<String>,
    pub master_security_group: Option<String>,
    pub slave_security_group: Option<String>,
    pub service_access_security_group: Option<String>,
    pub additional_master_security_groups: Vec<String>,
    pub additional_slave_security_groups: Vec<String>,
    /// The EC2 instance profile of the cluster's nodes.
    pub job_flow_role: String,
    /// The role EMR itself acts as.
    pub service_role: String,
    /// Names the cluster in EMR's console.
    pub name: String,
}

impl ClusterSpec {
    /// Whether any of its groups asks for spot capacity.
    pub fn any_spot(&self) -> bool {
        [Some(&self.master), self.core.as_ref(), self.task.as_ref()]
            .into_iter()
            .flatten()
            .any(|group| group.market.is_spot())
    }
}

/// A cluster launch: what to start, the token that makes it happen once, and its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterLaunch {
    pub token: String,
    pub spec: ClusterSpec,
    pub tags: Vec<(String, String)>,
}

/// One EMR step: a jar (`command-runner.jar` for a command) with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepSpec {
    /// How Sluice finds the step again: the attempt's id, then its place in the attempt.
    pub name: String,
    pub jar: String,
    pub main_class: Option<String>,
    pub args: Vec<String>,
    /// Java properties of the step (`hadoopQueue` becomes `mapreduce.job.queuename`).
    pub properties: Vec<(String, String)>,
}

/// Where a step stands, in EMR's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepState {
    Pending,
    Running,
    Completed,
    /// With EMR's reason, and the log file it names.
    Failed {
        reason: String,
    },
    Cancelled,
    /// The cluster went away under it.
    Interrupted,
}

impl StepState {
    pub fn is_over(&self) -> bool {
        !matches!(self, Self::Pending | Self::Running)
    }
}

/// A step on a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub id: String,
    pub name: String,
    pub state: StepState,
    /// The log file EMR names for a failed step.
    pub log_file: Option<String>,
}

/// Whether a machine id is an EMR cluster's (`j-...`) rather than an EC2 instance's.
pub fn is_cluster_id(id: &str) -> bool {
    unqualified(id).1.starts_with("j-")
}

/// A machine outside Sluice's own region is known as `<region>:<id>` (EC2 and EMR ids
/// never hold a colon): the region, if any, and the service's own id.
pub fn unqualified(id: &str) -> (Option<&str>, &str) {
    match id.split_once(':') {
        Some((region, bare)) => (Some(region), bare),
        None => (None, id),
    }
}

fn qualified(region: Option<&str>, id: &str) -> String {
    match region {
        Some(region) => format!("{region}:{id}"),
        None => id.to_owned(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ComputeError {
    /// No capacity at the price or in the zone (`InsufficientInstanceCapacity`,
    /// `SpotMaxPriceTooLow`, ...): another attempt later, or on demand, can help.
    #[error("{operation}: no capacity ({code}: {detail}); a later attempt or on-demand capacity can help")]
    Capacity {
        operation: &'static str,
        code: String,
        detail: String,
    },
    /// Throttling, server trouble or the network: the same request may succeed later.
    #[error("{operation}: {code} ({detail}); retrying later can help")]
    Unavailable {
        operation: &'static str,
        code: String,
        detail: String,
    },
    /// The request is wrong (an image that does not exist, a missing permission): retrying
    /// cannot help until the definition or the account changes.
    #[error("{operation} refused: {code} ({detail})")]
    Refused {
        operation: &'static str,
        code: String,
        detail: String,
    },
}

impl ComputeError {
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Refused { .. })
    }

    pub fn is_capacity(&self) -> bool {
        matches!(self, Self::Capacity { .. })
    }

    pub fn code(&self) -> &str {
        match self {
            Self::Capacity { code, .. } | Self::Unavailable { code, .. } | Self::Refused { code, .. } => code,
        }
    }
}

/// EC2's answers that mean "no capacity for this launch now": spot or on-demand.
pub const CAPACITY_CODES: &[&str] = &[
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "InsufficientHostCapacity",
    "InsufficientReservedInstanceCapacity",
    "SpotMaxPriceTooLow",
    "MaxSpotInstanceCountExceeded",
    "InstanceLimitExceeded",
    "VcpuLimitExceeded",
    "UnfulfillableCapacity",
    "capacity-not-available",
    "capacity-oversubscribed",
    "price-too-low",
];

/// Codes that retrying the same request later can fix.
const RETRYABLE: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
    "RequestExpired",
    "IdempotentParameterMismatch",
    "InternalServerException",
    "InternalServerError",
];

/// EC2's or EMR's error, classified by whether retrying can help.
pub(crate) fn classify<E>(
    operation: &'static str,
    error: &SdkError<E, aws_sdk_ec2::config::http::HttpResponse>,
) -> ComputeError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = error
        .message()
        .map(str::to_owned)
        .unwrap_or_else(|| DisplayErrorContext(error).to_string());
    let status = error.raw_response().map(|raw| raw.status().as_u16());
    let transport = matches!(error, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_));
    let code = error.code().map(str::to_owned).unwrap_or_else(|| match status {
        Some(status) => format!("HTTP{status}"),
        None => "NetworkError".to_owned(),
    });
    if CAPACITY_CODES.contains(&code.as_str()) {
        return ComputeError::Capacity {
            operation,
            code,
            detail,
        };
    }
    let server_side = status.is_some_and(|status| status == 429 || status >= 500);
    if server_side || transport || RETRYABLE.contains(&code.as_str()) {
        ComputeError::Unavailable {
            operation,
            code,
            detail,
        }
    } else {
        ComputeError::Refused {
            operation,
            code,
            detail,
        }
    }
}

/// Launches, watches and terminates machines.
pub trait Compute: Send + Sync {
    /// The machine launched with `token` in `region` (Sluice's own when `None`), if any
    /// (the newest, if several).
    fn find(
        &self,
        token: &str,
        region: Option<&str>,
    ) -> impl Future<Output = Result<Option<Machine>, ComputeError>> + Send;

    /// Starts a machine. Callers look the token up with [`Compute::find`] first.
    fn launch(&self, launch: &Launch) -> impl Future<Output = Result<Machine, ComputeError>> + Send;

    /// What the machine is doing now.
    fn state(&self, id: &str) -> impl Future<Output = Result<MachineState, ComputeError>> + Send;

    /// Terminates the machine; terminating one that is gone succeeds.
    fn terminate(&self, id: &str) -> impl Future<Output = Result<(), ComputeError>> + Send;

    /// Every machine and cluster tagged as Sluice's that has not ended.
    fn alive_tagged(&self) -> impl Future<Output = Result<Vec<Tagged>, ComputeError>> + Send;

    /// The cluster launched with `token` in `region`, if any (the newest, if several).
    fn find_cluster(
        &self,
        token: &str,
        region: Option<&str>,
    ) -> impl Future<Output = Result<Option<Machine>, ComputeError>> + Send;

    /// Starts a cluster that stays up between steps. Callers look the token up first.
    fn launch_cluster(&self, launch: &ClusterLaunch) -> impl Future<Output = Result<Machine, ComputeError>> + Send;

    /// Every step on the cluster, newest first.
    fn steps(&self, cluster_id: &str) -> impl Future<Output = Result<Vec<Step>, ComputeError>> + Send;

    /// Adds steps to run one after another; a failed step leaves the cluster up.
    fn add_steps(
        &self,
        cluster_id: &str,
        steps: &[StepSpec],
    ) -> impl Future<Output = Result<Vec<String>, ComputeError>> + Send;

    /// Cancels steps that have not ended (best effort: a running step may finish first).
    fn cancel_steps(
        &self,
        cluster_id: &str,
        step_ids: &[String],
    ) -> impl Future<Output = Result<(), ComputeError>> + Send;
}

/// The compute port on AWS: machines on EC2, clusters and their steps on EMR. Machine
/// calls on an id go to the service that made it (`j-...` is EMR's), in the region it
/// names (`us-west-2:i-...`; Sluice's own region when it names none).
#[derive(Debug)]
pub struct AwsCompute {
    config: SdkConfig,
    home: Option<String>,
    /// The clients of each region used so far, Sluice's own under "".
    clients: Mutex<BTreeMap<String, (ec2::Ec2Compute, emr::EmrClusters)>>,
    /// The regions the sweep looks in besides Sluice's own: those named at start
    /// (`SLUICE_REGIONS`) and those this process launched in.
    sweep_regions: Mutex<BTreeSet<String>>,
}

impl AwsCompute {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            home: config.region().map(|region| region.as_ref().to_owned()),
            config: config.clone(),
            clients: Mutex::new(BTreeMap::new()),
            sweep_regions: Mutex::new(BTreeSet::new()),
        }
    }

    /// Also sweeps these regions for machines Sluice launched there.
    pub fn with_sweep_regions(self, regions: impl IntoIterator<Item = String>) -> Self {
        self.sweep_regions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend(regions.into_iter().filter(|region| !region.trim().is_empty()));
        self
    }

    /// `region`, or `None` when it is Sluice's own.
    fn elsewhere<'r>(&self, region: Option<&'r str>) -> Option<&'r str> {
        region.filter(|region| Some(*region) != self.home.as_deref())
    }

    fn clients(&self, region: Option<&str>) -> (ec2::Ec2Compute, emr::EmrClusters) {
        let mut clients = self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .entry(region.unwrap_or_default().to_owned())
            .or_insert_with(|| {
                let config = match region {
                    Some(region) => self
                        .config
                        .to_builder()
                        .region(aws_config::Region::new(region.to_owned()))
                        .build(),
                    None => self.config.clone(),
                };
                (ec2::Ec2Compute::new(&config), emr::EmrClusters::new(&config))
            })
            .clone()
    }

    fn launched_in(&self, region: Option<&str>) {
        if let Some(region) = region {
            self.sweep_regions
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(region.to_owned());
        }
    }
}

fn in_region(region: Option<&str>, machine: Machine) -> Machine {
    Machine {
        id: qualified(region, &machine.id),
        ..machine
    }
}

impl Compute for AwsCompute {
    async fn find(&self, token: &str, region: Option<&str>) -> Result<Option<Machine>, ComputeError> {
        let region = self.elsewhere(region);
        let found = self.clients(region).0.find(token).await?;
        Ok(found.map(|machine| in_region(region, machine)))
    }

    async fn launch(&self, launch: &Launch) -> Result<Machine, ComputeError> {
        let region = self.elsewhere(launch.spec.region.as_deref());
        self.launched_in(region);
        let machine = self.clients(region).0.launch(launch).await?;
        Ok(in_region(region, machine))
    }

    async fn state(&self, id: &str) -> Result<MachineState, ComputeError> {
        let (region, bare) = unqualified(id);
        let (ec2, emr) = self.clients(region);
        if is_cluster_id(bare) {
            emr.state(bare).await
        } else {
            ec2.state(bare).await
        }
    }

    async fn terminate(&self, id: &str) -> Result<(), ComputeError> {
        let (region, bare) = unqualified(id);
        let (ec2, emr) = self.clients(region);
        if is_cluster_id(bare) {
            emr.terminate(bare).await
        } else {
            ec2.terminate(bare).await
        }
    }

    async fn alive_tagged(&self) -> Result<Vec<Tagged>, ComputeError> {
        let elsewhere: Vec<String> = self
            .sweep_regions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .cloned()
            .collect();
        let regions = std::iter::once(None).chain(
            elsewhere
                .iter()
                .map(|region| self.elsewhere(Some(region.as_str())))
                .filter(Option::is_some),
        );
        let mut alive = Vec::new();
        for region in regions {
            let (ec2, emr) = self.clients(region);
            for mut tagged in ec2.alive_tagged().await?.into_iter().chain(emr.alive_tagged().await?) {
                tagged.machine = in_region(region, tagged.machine);
                alive.push(tagged);
            }
        }
        Ok(alive)
    }

    async fn find_cluster(&self, token: &str, region: Option<&str>) -> Result<Option<Machine>, ComputeError> {
        let region = self.elsewhere(region);
        let found = self.clients(region).1.find(token).await?;
        Ok(found.map(|machine| in_region(region, machine)))
    }

    async fn launch_cluster(&self, launch: &ClusterLaunch) -> Result<Machine, ComputeError> {
        let region = self.elsewhere(launch.spec.region.as_deref());
        self.launched_in(region);
        let cluster = self.clients(region).1.launch(launch).await?;
        Ok(in_region(region, cluster))
    }

    async fn steps(&self, cluster_id: &str) -> Result<Vec<Step>, ComputeError> {
        let (region, bare) = unqualified(cluster_id);
        self.clients(region).1.steps(bare).await
    }

    async fn add_steps(&self, cluster_id: &str, steps: &[StepSpec]) -> Result<Vec<String>, ComputeError> {
        let (region, bare) = unqualified(cluster_id);
        self.clients(region).1.add_steps(bare, steps).await
    }

    async fn cancel_steps(&self, cluster_id: &str, step_ids: &[String]) -> Result<(), ComputeError> {
        let (region, bare) = unqualified(cluster_id);
        self.clients(region).1.cancel_steps(bare, step_ids).await
    }
}
