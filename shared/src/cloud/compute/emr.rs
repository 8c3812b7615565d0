//! The compute port on EMR: RunJobFlow (instance groups on demand or on spot),
//! DescribeCluster, TerminateJobFlows, and the steps EMR activities run as
//! (AddJobFlowSteps, ListSteps, CancelSteps).
//!
//! A cluster's name starts with its launch token and carries the worker group it serves,
//! so one ListClusters finds an attempt's cluster, or every cluster the sweep must judge,
//! without a DescribeCluster each (EMR has no tag filter on ListClusters).

use aws_config::SdkConfig;
use aws_sdk_emr::{
    Client,
    error::ProvideErrorMetadata,
    types::{
        ActionOnFailure, Application, BootstrapActionConfig, ClusterState, Configuration, HadoopJarStepConfig,
        InstanceGroupConfig, InstanceRoleType, JobFlowInstancesConfig, KeyValue, MarketType, PlacementType,
        ScriptBootstrapActionConfig, StepConfig, Tag,
    },
};

use super::{
    ClusterConfiguration, ClusterLaunch, ComputeError, Machine, MachineState, Market, NodeGroup, Step, StepSpec,
    StepState, Tagged, classify,
};

/// The states of a cluster that has not ended.
const ALIVE: &[ClusterState] = &[
    ClusterState::Starting,
    ClusterState::Bootstrapping,
    ClusterState::Running,
    ClusterState::Waiting,
    ClusterState::Terminating,
];

/// EMR's answer for a cluster or step it does not know.
const NOT_FOUND: &str = "InvalidRequestException";

/// EMR through the AWS SDK.
#[derive(Debug, Clone)]
pub struct EmrClusters {
    client: Client,
}

/// The name of a cluster: its launch token, then the worker group it serves.
pub fn cluster_name(token: &str, worker_group: &str) -> String {
    let name = format!("{token} {worker_group}");
    // EMR allows 256 characters; the token comes first, so it always survives.
    name.chars().take(256).collect()
}

/// The token and worker group a cluster's name carries, if Sluice named it.
fn parse_name(name: &str) -> Option<(&str, &str)> {
    let (token, group) = name.split_once(' ')?;
    token.starts_with("sluice-").then_some((token, group))
}

fn configurations(configurations: &[ClusterConfiguration]) -> Vec<Configuration> {
    configurations
        .iter()
        .map(|configuration| {
            Configuration::builder()
                .classification(&configuration.classification)
                .set_properties(
                    (!configuration.properties.is_empty()).then(|| configuration.properties.iter().cloned().collect()),
                )
                .set_configurations(
                    (!configuration.configurations.is_empty())
                        .then(|| self::configurations(&configuration.configurations)),
                )
                .build()
        })
        .collect()
}

fn group(role: InstanceRoleType, group: &NodeGroup) -> InstanceGroupConfig {
    let mut config = InstanceGroupConfig::builder()
        .name(format!("sluice {}", role.as_str().to_lowercase()))
        .instance_role(role)
        .instance_type(&group.instance_type)
        .instance_count(group.count)
        .set_configurations((!group.configurations.is_empty()).then(|| configurations(&group.configurations)));
    config = match &group.market {
        Market::OnDemand => config.market(MarketType::OnDemand),
        // No bid (or `OnDemandPrice`) is EMR's default: at most the on-demand price.
        Market::Spot { max_price } => config.market(MarketType::Spot).set_bid_price(
            max_price
                .clone()
                .filter(|price| !price.eq_ignore_ascii_case("OnDemandPrice")),
        ),
    };
    config.build()
}

fn state_of(state: Option<&ClusterState>, reason: Option<String>) -> MachineState {
    match state {
        Some(ClusterState::Starting | ClusterState::Bootstrapping) => MachineState::Pending,
        Some(ClusterState::Running | ClusterState::Waiting) => MachineState::Running,
        Some(ClusterState::Terminating) => MachineState::Stopping,
        Some(ClusterState::Terminated | ClusterState::TerminatedWithErrors) => MachineState::Terminated { reason },
        _ => MachineState::Unknown,
    }
}

fn step_state(state: Option<&aws_sdk_emr::types::StepState>, reason: String) -> StepState {
    use aws_sdk_emr::types::StepState as Emr;
    match state {
        Some(Emr::Running) => StepState::Running,
        Some(Emr::Completed) => StepState::Completed,
        Some(Emr::Failed) => StepState::Failed { reason },
        Some(Emr::Cancelled | Emr::CancelPending) => StepState::Cancelled,
        Some(Emr::Interrupted) => StepState::Interrupted,
        _ => StepState::Pending,
    }
}

impl EmrClusters {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            client: Client::new(config),
        }
    }

    /// Every cluster that has not ended, with its name.
    async fn alive(&self) -> Result<Vec<(String, Machine)>, ComputeError> {
        let mut found = Vec::new();
        let mut marker = None;
        loop {
            let answer = self
                .client
                .list_clusters()
                .set_cluster_states(Some(ALIVE.to_vec()))
                .set_marker(marker)
                .send()
                .await
                .map_err(|error| classify("ListClusters", &error))?;
            for cluster in answer.clusters() {
                let (Some(id), Some(name)) = (cluster.id(), cluster.name()) else {
                    continue;
                };
                let status = cluster.status();
                found.push((
                    name.to_owned(),
                    Machine {
                        id: id.to_owned(),
                        state: state_of(status.and_then(|status| status.state()), None),
                        spot: false,
                    },
                ));
            }
            marker = answer.marker().map(str::to_owned);
            if marker.is_none() {
                return Ok(found);
            }
        }
    }

    pub async fn find(&self, token: &str) -> Result<Option<Machine>, ComputeError> {
        Ok(self
            .alive()
            .await?
            .into_iter()
            .find(|(name, _)| parse_name(name).is_some_and(|(found, _)| found == token))
            .map(|(_, machine)| machine))
    }

    pub async fn alive_tagged(&self) -> Result<Vec<Tagged>, ComputeError> {
        Ok(self
            .alive()
            .await?
            .into_iter()
            .filter_map(|(name, machine)| {
                let (token, group) = parse_name(&name)?;
                Some(Tagged {
                    worker_group: Some(group.to_owned()),
                    token: Some(token.to_owned()),
                    machine,
                })
            })
            .collect())
    }

    pub async fn launch(&self, launch: &ClusterLaunch) -> Result<Machine, ComputeError> {
        let spec = &launch.spec;
        let mut groups = vec![group(InstanceRoleType::Master, &spec.master)];
        groups.extend(spec.core.iter().map(|core| group(InstanceRoleType::Core, core)));
        groups.extend(spec.task.iter().map(|task| group(InstanceRoleType::Task, task)));
        let instances = JobFlowInstancesConfig::builder()
            .set_instance_groups(Some(groups))
            // The cluster waits between steps; Sluice terminates it when its work is done.
            .keep_job_flow_alive_when_no_steps(true)
            .termination_protected(false)
            .set_ec2_key_name(spec.key_pair.clone())
            .set_ec2_subnet_id(spec.subnet_id.clone())
            .set_placement(
                spec.availability_zone
                    .as_ref()
                    .map(|zone| PlacementType::builder().availability_zone(zone).build()),
            )
            .set_emr_managed_master_security_group(spec.master_security_group.clone())
            .set_emr_managed_slave_security_group(spec.slave_security_group.clone())
            .set_service_access_security_group(spec.service_access_security_group.clone())
            .set_additional_master_security_groups(
                (!spec.additional_master_security_groups.is_empty())
                    .then(|| spec.additional_master_security_groups.clone()),
            )
            .set_additional_slave_security_groups(
                (!spec.additional_slave_security_groups.is_empty())
                    .then(|| spec.additional_slave_security_groups.clone()),
            )
            .build();
        let applications: Vec<Application> = spec
            .applications
            .iter()
            .map(|name| Application::builder().name(name).build())
            .collect();
        let bootstrap: Vec<BootstrapActionConfig> = spec
            .bootstrap_actions
            .iter()
            .enumerate()
            .map(|(index, action)| {
                BootstrapActionConfig::builder()
                    .name(format!("bootstrap {}", index + 1))
                    .script_bootstrap_action(
                        ScriptBootstrapActionConfig::builder()
                            .path(&action.path)
                            .set_args(Some(action.args.clone()))
                            .build(),
                    )
                    .build()
            })
            .collect();
        let tags: Vec<Tag> = launch
            .tags
            .iter()
            .map(|(key, value)| Tag::builder().key(key).value(value).build())
            .chain(std::iter::once(
                Tag::builder().key(super::TOKEN_TAG).value(&launch.token).build(),
            ))
            .collect();
        let answer = self
            .client
            .run_job_flow()
            .name(&spec.name)
            .set_release_label(spec.release_label.clone())
            .set_ami_version(spec.ami_version.clone())
            .set_applications((!applications.is_empty()).then_some(applications))
            .instances(instances)
            .set_bootstrap_actions((!bootstrap.is_empty()).then_some(bootstrap))
            .set_configurations((!spec.configurations.is_empty()).then(|| configurations(&spec.configurations)))
            .set_log_uri(spec.log_uri.clone())
            .job_flow_role(&spec.job_flow_role)
            .service_role(&spec.service_role)
            .visible_to_all_users(true)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|error| classify("RunJobFlow", &error))?;
        let id = answer.job_flow_id().ok_or_else(|| ComputeError::Unavailable {
            operation: "RunJobFlow",
            code: "NoCluster".to_owned(),
            detail: "EMR answered without a cluster id".to_owned(),
        })?;
        Ok(Machine {
            id: id.to_owned(),
            state: MachineState::Pending,
            spot: spec.any_spot(),
        })
    }

    pub async fn state(&self, id: &str) -> Result<MachineState, ComputeError> {
        let answer = match self.client.describe_cluster().cluster_id(id).send().await {
            Ok(answer) => answer,
            Err(error) if error.code() == Some(NOT_FOUND) => return Ok(MachineState::Unknown),
            Err(error) => return Err(classify("DescribeCluster", &error)),
        };
        let status = answer.cluster().and_then(|cluster| cluster.status());
        let reason = status.and_then(|status| status.state_change_reason()).map(|reason| {
            match (reason.code(), reason.message()) {
                (Some(code), Some(message)) => format!("{}: {message}", code.as_str()),
                (Some(code), None) => code.as_str().to_owned(),
                (None, Some(message)) => message.to_owned(),
                (None, None) => String::new(),
            }
        });
        Ok(state_of(status.and_then(|status| status.state()), reason))
    }

    pub async fn terminate(&self, id: &str) -> Result<(), ComputeError> {
        match self.client.terminate_job_flows().job_flow_ids(id).send().await {
            Ok(_) => Ok(()),
            Err(error) if error.code() == Some(NOT_FOUND) => Ok(()),
            Err(error) => Err(classify("TerminateJobFlows", &error)),
        }
    }

    pub async fn steps(&self, cluster_id: &str) -> Result<Vec<Step>, ComputeError> {
        let mut steps = Vec::new();
        let mut marker = None;
        loop {
            let answer = self
                .client
                .list_steps()
                .cluster_id(cluster_id)
                .set_marker(marker)
                .send()
                .await
                .map_err(|error| classify("ListSteps", &error))?;
            for summary in answer.steps() {
                let Some(id) = summary.id() else { continue };
                let status = summary.status();
                let failure = status.and_then(|status| status.failure_details());
                let reason = failure
                    .and_then(|failure| failure.message().or(failure.reason()))
                    .or_else(|| {
                        status
                            .and_then(|status| status.state_change_reason())
                            .and_then(|reason| reason.message())
                    })
                    .unwrap_or("EMR gave no reason")
                    .to_owned();
                steps.push(Step {
                    id: id.to_owned(),
                    name: summary.name().unwrap_or_default().to_owned(),
                    state: step_state(status.and_then(|status| status.state()), reason),
                    log_file: failure
                        .and_then(|failure| failure.log_file())
                        .or(summary.log_uri())
                        .map(str::to_owned),
                });
            }
            marker = answer.marker().map(str::to_owned);
            if marker.is_none() {
                return Ok(steps);
            }
        }
    }

    pub async fn add_steps(&self, cluster_id: &str, steps: &[StepSpec]) -> Result<Vec<String>, ComputeError> {
        let configs: Vec<StepConfig> = steps
            .iter()
            .map(|step| {
                StepConfig::builder()
                    .name(&step.name)
                    // A failed step fails its attempt, not the cluster other work runs on.
                    .action_on_failure(ActionOnFailure::Continue)
                    .hadoop_jar_step(
                        HadoopJarStepConfig::builder()
                            .jar(&step.jar)
                            .set_main_class(step.main_class.clone())
                            .set_args(Some(step.args.clone()))
                            .set_properties((!step.properties.is_empty()).then(|| {
                                step.properties
                                    .iter()
                                    .map(|(key, value)| KeyValue::builder().key(key).value(value).build())
                                    .collect()
                            }))
                            .build(),
                    )
                    .build()
            })
            .collect();
        let answer = self
            .client
            .add_job_flow_steps()
            .job_flow_id(cluster_id)
            .set_steps(Some(configs))
            .send()
            .await
            .map_err(|error| classify("AddJobFlowSteps", &error))?;
        Ok(answer.step_ids().to_vec())
    }

    pub async fn cancel_steps(&self, cluster_id: &str, step_ids: &[String]) -> Result<(), ComputeError> {
        self.client
            .cancel_steps()
            .cluster_id(cluster_id)
            .set_step_ids(Some(step_ids.to_vec()))
            .send()
            .await
            .map_err(|error| classify("CancelSteps", &error))?;
        Ok(())
    }
}
