//! The compute port on EC2: RunInstances (on demand, or spot through market options),
//! DescribeInstances by id or by the launch's token tag, TerminateInstances.

use aws_config::SdkConfig;
use aws_sdk_ec2::{
    Client,
    error::ProvideErrorMetadata,
    types::{
        Filter, IamInstanceProfileSpecification, Instance, InstanceInterruptionBehavior, InstanceMarketOptionsRequest,
        InstanceNetworkInterfaceSpecification, InstanceStateName, InstanceType, MarketType, Placement, ResourceType,
        SpotInstanceType, SpotMarketOptions, Tag, TagSpecification,
    },
};

use super::{ComputeError, Launch, Machine, MachineState, PIPELINE_TAG, TOKEN_TAG, Tagged, WORKER_GROUP_TAG, classify};

/// EC2's answer for an instance id it does not know.
const NOT_FOUND: &str = "InvalidInstanceID.NotFound";

/// EC2 through the AWS SDK.
#[derive(Debug, Clone)]
pub struct Ec2Compute {
    client: Client,
}

impl Ec2Compute {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            client: Client::new(config),
        }
    }
}

fn machine(instance: &Instance) -> Option<Machine> {
    Some(Machine {
        id: instance.instance_id()?.to_owned(),
        state: state_of(instance),
        spot: instance
            .instance_lifecycle()
            .is_some_and(|lifecycle| lifecycle.as_str() == "spot"),
    })
}

fn state_of(instance: &Instance) -> MachineState {
    match instance.state().and_then(|state| state.name()) {
        Some(InstanceStateName::Pending) => MachineState::Pending,
        Some(InstanceStateName::Running) => MachineState::Running,
        Some(InstanceStateName::Terminated) => MachineState::Terminated {
            reason: instance
                .state_reason()
                .map(|reason| match (reason.code(), reason.message()) {
                    (Some(code), Some(message)) if !message.starts_with(code) => format!("{code}: {message}"),
                    (_, Some(message)) => message.to_owned(),
                    (Some(code), None) => code.to_owned(),
                    (None, None) => String::new(),
                }),
        },
        // Stopping, stopped, shutting down: on its way out, no work runs there.
        Some(_) => MachineState::Stopping,
        None => MachineState::Unknown,
    }
}

impl Ec2Compute {
    pub async fn find(&self, token: &str) -> Result<Option<Machine>, ComputeError> {
        let answer = self
            .client
            .describe_instances()
            .filters(Filter::builder().name(format!("tag:{TOKEN_TAG}")).values(token).build())
            .send()
            .await
            .map_err(|error| classify("DescribeInstances", &error))?;
        let newest = answer
            .reservations()
            .iter()
            .flat_map(|reservation| reservation.instances())
            .max_by_key(|instance| instance.launch_time().map(|time| (time.secs(), time.subsec_nanos())));
        Ok(newest.and_then(machine))
    }

    pub async fn launch(&self, launch: &Launch) -> Result<Machine, ComputeError> {
        let spec = &launch.spec;
        let tags: Vec<Tag> = launch
            .tags
            .iter()
            .map(|(key, value)| Tag::builder().key(key).value(value).build())
            .chain(std::iter::once(
                Tag::builder().key(TOKEN_TAG).value(&launch.token).build(),
            ))
            .collect();
        let tagged = |resource: ResourceType| {
            TagSpecification::builder()
                .resource_type(resource)
                .set_tags(Some(tags.clone()))
                .build()
        };
        let mut request = self
            .client
            .run_instances()
            .image_id(&spec.image_id)
            .instance_type(InstanceType::from(spec.instance_type.as_str()))
            .min_count(1)
            .max_count(1)
            // EC2 starts one instance per token; the tag lookup above covers emulators
            // that ignore it.
            .client_token(&launch.token)
            .user_data(aws_smithy_types::base64::encode(spec.user_data.as_bytes()))
            .set_key_name(spec.key_pair.clone())
            .tag_specifications(tagged(ResourceType::Instance))
            .tag_specifications(tagged(ResourceType::Volume))
            .instance_initiated_shutdown_behavior(aws_sdk_ec2::types::ShutdownBehavior::Terminate);
        if let Some(zone) = &spec.availability_zone {
            request = request.placement(Placement::builder().availability_zone(zone).build());
        }
        if let Some(profile) = &spec.instance_profile {
            let profile = if profile.starts_with("arn:") {
                IamInstanceProfileSpecification::builder().arn(profile).build()
            } else {
                IamInstanceProfileSpecification::builder().name(profile).build()
            };
            request = request.iam_instance_profile(profile);
        }
        request = match spec.associate_public_ip_address {
            // A public address is asked for on the network interface, which then carries
            // the subnet and the security groups too.
            Some(public) => request.network_interfaces(
                InstanceNetworkInterfaceSpecification::builder()
                    .device_index(0)
                    .associate_public_ip_address(public)
                    .set_subnet_id(spec.subnet_id.clone())
                    .set_groups((!spec.security_group_ids.is_empty()).then(|| spec.security_group_ids.clone()))
                    .build(),
            ),
            None => request
                .set_subnet_id(spec.subnet_id.clone())
                .set_security_group_ids((!spec.security_group_ids.is_empty()).then(|| spec.security_group_ids.clone()))
                .set_security_groups((!spec.security_groups.is_empty()).then(|| spec.security_groups.clone())),
        };
        if let super::Market::Spot { max_price } = &spec.market {
            request = request.instance_market_options(
                InstanceMarketOptionsRequest::builder()
                    .market_type(MarketType::Spot)
                    .spot_options(
                        SpotMarketOptions::builder()
                            .set_max_price(max_price.clone())
                            .spot_instance_type(SpotInstanceType::OneTime)
                            .instance_interruption_behavior(InstanceInterruptionBehavior::Terminate)
                            .build(),
                    )
                    .build(),
            );
        }
        let answer = request.send().await.map_err(|error| classify("RunInstances", &error))?;
        let launched = answer.instances().first().and_then(machine);
        launched.ok_or_else(|| ComputeError::Unavailable {
            operation: "RunInstances",
            code: "NoInstance".to_owned(),
            detail: "EC2 answered without an instance".to_owned(),
        })
    }

    pub async fn state(&self, id: &str) -> Result<MachineState, ComputeError> {
        let answer = match self.client.describe_instances().instance_ids(id).send().await {
            Ok(answer) => answer,
            Err(error) if error.code() == Some(NOT_FOUND) => return Ok(MachineState::Unknown),
            Err(error) => return Err(classify("DescribeInstances", &error)),
        };
        Ok(answer
            .reservations()
            .iter()
            .flat_map(|reservation| reservation.instances())
            .find(|instance| instance.instance_id() == Some(id))
            .map_or(MachineState::Unknown, state_of))
    }

    pub async fn alive_tagged(&self) -> Result<Vec<Tagged>, ComputeError> {
        let mut found = Vec::new();
        let mut next_token = None;
        loop {
            let answer = self
                .client
                .describe_instances()
                .filters(Filter::builder().name("tag-key").values(PIPELINE_TAG).build())
                .filters(
                    Filter::builder()
                        .name("instance-state-name")
                        .values("pending")
                        .values("running")
                        .values("stopping")
                        .values("stopped")
                        .values("shutting-down")
                        .build(),
                )
                .set_next_token(next_token)
                .send()
                .await
                .map_err(|error| classify("DescribeInstances", &error))?;
            for instance in answer
                .reservations()
                .iter()
                .flat_map(|reservation| reservation.instances())
            {
                let Some(machine) = machine(instance) else { continue };
                let tag = |key: &str| {
                    instance
                        .tags()
                        .iter()
                        .find(|tag| tag.key() == Some(key))
                        .and_then(|tag| tag.value())
                        .map(str::to_owned)
                };
                found.push(Tagged {
                    machine,
                    worker_group: tag(WORKER_GROUP_TAG),
                    token: tag(TOKEN_TAG),
                });
            }
            next_token = answer.next_token().map(str::to_owned);
            if next_token.is_none() {
                return Ok(found);
            }
        }
    }

    pub async fn terminate(&self, id: &str) -> Result<(), ComputeError> {
        match self.client.terminate_instances().instance_ids(id).send().await {
            Ok(_) => Ok(()),
            Err(error) if error.code() == Some(NOT_FOUND) => Ok(()),
            Err(error) => Err(classify("TerminateInstances", &error)),
        }
    }
}
